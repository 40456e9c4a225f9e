package features

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated feature table in docs/features.md")

const (
	docsPath  = "../docs/features.md"
	beginMark = "<!-- BEGIN GENERATED FEATURE TABLE (go test ./features -run Docs -update) -->"
	endMark   = "<!-- END GENERATED FEATURE TABLE -->"
)

// docGroups names the column ranges of the schema, in order.
var docGroups = []struct {
	first int
	title string
}{
	{IsRollback, "Context known at deploy time"},
	{BaselineErrorRate, "Rates"},
	{ImpactRatio, "Impact check"},
	{CPOffset, "Temporal-correlation check"},
	{ElevatedMinutesFrac, "Persistence check"},
	{Inconclusive, "Unanimous ensemble"},
	{NewSigFingerprints, "New error signatures"},
	{P95Ratio, "Latency"},
	{TrafficRatio, "Traffic"},
	{SeasonalDaysUsed, "Seasonality"},
	{FleetServices, "Fleet control"},
	{BAPseudoPoints, "Before/after checks: summary"},
	{BAErrLogRatio, "Before/after: error rate (higher is worse)"},
	{BALatLevelChange, "Before/after: p95 latency (higher is worse)"},
	{BATputLevelChange, "Before/after: throughput (lower is worse)"},
	{BAKPILevelChange, "Before/after: declared KPIs (each in its direction)"},
}

func featureTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Schema `%s`, %d columns, hash `%s`.\n", SchemaVersion, NumFeatures, SchemaHash())
	for g, grp := range docGroups {
		end := NumFeatures
		if g+1 < len(docGroups) {
			end = docGroups[g+1].first
		}
		fmt.Fprintf(&b, "\n#### %s\n\n| # | column | unit | definition |\n|---|---|---|---|\n", grp.title)
		for i := grp.first; i < end; i++ {
			f := Schema[i]
			fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", i+1, f.Name, f.Unit, strings.ReplaceAll(f.Doc, "|", "\\|"))
		}
	}
	return b.String()
}

// TestDocsFeatureTable keeps docs/features.md in step with Schema.
func TestDocsFeatureTable(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if i < 0 || j < i {
		t.Fatalf("%s: generated-table markers missing", docsPath)
	}
	want := doc[:i+len(beginMark)] + "\n" + featureTable() + "\n" + doc[j:]
	if *updateDocs {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != doc {
		t.Errorf("%s: feature table out of date; run go test ./features -run Docs -update", docsPath)
	}
}
