package evaluation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runFixture(t *testing.T, simulated bool) (*Report, string) {
	t.Helper()
	dir := writeFixture(t)
	h := &memHistory{anns: fxAnnotations(), simulated: simulated}
	rep, err := Run(context.Background(), Options{
		Workdir: dir, Config: DefaultConfig(), History: h, Truth: h,
		Now: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), CodeVersion: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep, dir
}

// expected recomputes a contender's sequential decision from the fixture's
// definitions, independently of the package's scoring.
func expectedDetectedAt(contender string, i int) int {
	switch contender {
	case ContenderBaseline:
		if fxHasRow(i, 60) && fxEnsemble(i, 60) == 1 {
			return 60
		}
		return -1
	case ContenderWeak, ContenderEnsemble:
		for _, h := range []int{10, 20, 60} {
			if !fxHasRow(i, h) {
				continue
			}
			r := fxErr(i, h)
			p := fxWeakP(r)
			th := fxWeakThresholds[h]
			if contender == ContenderEnsemble {
				p, th = metrics.Sigmoid(-2), fxEnsembleThresholds[h]
				if r > 1.45 {
					p = metrics.Sigmoid(2)
				}
			}
			if p >= th {
				return h
			}
		}
	}
	return -1
}

func TestRunAgainstTruth(t *testing.T) {
	rep, _ := runFixture(t, true)
	if rep.TestDeploys != fixtureN-fixtureTrain-fixtureValid {
		t.Fatalf("test deploys %d, want %d", rep.TestDeploys, fixtureN-fixtureTrain-fixtureValid)
	}
	if !rep.Simulated || rep.Headline != RefGoldOrWeak {
		t.Fatalf("simulated %v headline %q; want true, %q", rep.Simulated, rep.Headline, RefGoldOrWeak)
	}
	for _, c := range []string{ContenderBaseline, ContenderEnsemble, ContenderWeak} {
		var want metrics.Confusion
		var ttd []int
		for i := fixtureTrain + fixtureValid; i < fixtureN; i++ {
			at := expectedDetectedAt(c, i)
			want.Add(at >= 0, fxFaulty(i))
			if at >= 0 && fxFaulty(i) {
				ttd = append(ttd, at)
			}
		}
		got, ok := rep.Result(c, RefTruth, "policy")
		if !ok {
			t.Fatalf("no policy result for %s vs truth", c)
		}
		if got.Confusion != want {
			t.Errorf("%s vs truth: confusion %+v, want %+v", c, got.Confusion, want)
		}
		wantRatio := MeanTimeToDetection(ttd) / 60
		if !near(float64(got.TTDRatio), wantRatio, 1e-9) {
			t.Errorf("%s: TTD ratio %v, want %v", c, got.TTDRatio, wantRatio)
		}
		if c == ContenderBaseline && want.TP > 0 && got.Coverage["60"].Value != 1 {
			t.Errorf("baseline coverage at 60 = %v, want 1", got.Coverage["60"].Value)
		}
	}
	// lf_statistical_ensemble votes faulty exactly when the 60-minute ensemble is 1.
	k := 0
	for i := 0; i < fixtureN; i++ {
		if (fxEnsemble(i, 60) == 1) == fxFaulty(i) {
			k++
		}
	}
	var lf *LFRow
	for i := range rep.LF.Functions {
		if rep.LF.Functions[i].Name == "statistical_ensemble" {
			lf = &rep.LF.Functions[i]
		}
	}
	if lf == nil || lf.TruthAccuracy.K != k || lf.TruthAccuracy.N != fixtureN || lf.EstimatedAccuracy != 0.8 || lf.EmpiricalAccuracy != 0.75 {
		t.Errorf("statistical_ensemble LF row %+v, want truth accuracy %d/%d, estimated 0.8, empirical 0.75", lf, k, fixtureN)
	}
	// Its faulty votes are all cast alone (rollback abstains throughout):
	// by truth, the faulty share of the deploys where the ensemble is 1.
	lk, ln := 0, 0
	for i := 0; i < fixtureN; i++ {
		if fxEnsemble(i, 60) == 1 {
			ln++
			if fxFaulty(i) {
				lk++
			}
		}
	}
	if lf != nil && (ln == 0 || lf.LoneTruth.K != lk || lf.LoneTruth.N != ln) {
		t.Errorf("statistical_ensemble lone votes by truth %d/%d, want %d/%d (> 0)", lf.LoneTruth.K, lf.LoneTruth.N, lk, ln)
	}
	// The weak model catches strong faults early: its ratio must be below the baseline's 1.
	if r, _ := rep.Result(ContenderWeak, RefTruth, "policy"); !(float64(r.TTDRatio) < 1) {
		t.Errorf("weak TTD ratio %v, want < 1 on this fixture", r.TTDRatio)
	}
}

func TestReferences(t *testing.T) {
	rep, _ := runFixture(t, false)
	if rep.Simulated {
		t.Fatal("simulated without truth")
	}
	gw, ok := rep.Reference(RefGoldOrWeak)
	if !ok {
		t.Fatal("no gold_or_weak reference")
	}
	// Test deploys 25..39: three annotated (27, 30, 31); 28 abstained in the weak labels.
	if gw.FromGold != 3 || gw.FromWeak != 11 || gw.Deploys != 14 {
		t.Errorf("gold_or_weak from gold %d, weak %d, deploys %d; want 3, 11, 14", gw.FromGold, gw.FromWeak, gw.Deploys)
	}
	g, _ := rep.Reference(RefGold)
	// 27 and 30 faulty; 31 is a tie resolved by the later, healthy verdict.
	if g.Deploys != 3 || g.Faulty != 2 {
		t.Errorf("gold deploys %d faulty %d; want 3 and 2", g.Deploys, g.Faulty)
	}
	if _, ok := rep.Reference(RefTruth); ok {
		t.Error("truth reference without simulation")
	}
}

func TestDisagreementsAndQueue(t *testing.T) {
	rep, dir := runFixture(t, true)
	var d *Disagreement
	for i := range rep.Disagreements {
		if rep.Disagreements[i].A == ContenderBaseline && rep.Disagreements[i].B == ContenderWeak {
			d = &rep.Disagreements[i]
		}
	}
	if d == nil {
		t.Fatal("no baseline vs weak disagreement")
	}
	wantIDs := map[string]bool{}
	var truthA, truthB metrics.Confusion
	for i := fixtureTrain + fixtureValid; i < fixtureN; i++ {
		a, b := expectedDetectedAt(ContenderBaseline, i) >= 0, expectedDetectedAt(ContenderWeak, i) >= 0
		if a != b {
			wantIDs[fxID(i)] = true
			truthA.Add(a, fxFaulty(i))
			truthB.Add(b, fxFaulty(i))
		}
	}
	if d.Deploys != len(wantIDs) || d.Deploys == 0 {
		t.Fatalf("%d disagreements, want %d (> 0)", d.Deploys, len(wantIDs))
	}
	for _, s := range d.ByReference {
		if s.Reference == RefTruth && (s.A.Confusion != truthA || s.B.Confusion != truthB) {
			t.Errorf("on disagreements vs truth: %+v / %+v, want %+v / %+v", s.A.Confusion, s.B.Confusion, truthA, truthB)
		}
	}
	path := filepath.Join(dir, "queue.csv")
	n, err := rep.WriteQueue(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || n == 0 {
		t.Fatalf("%d queue records for %d rows", len(recs), n)
	}
	if got := strings.Join(recs[0][:5], ","); got != "deployment_id,label,annotator,annotated_at,note" {
		t.Errorf("queue header starts %q", got)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	prio := col["priority"]
	last := math.Inf(1)
	for _, r := range recs[1:] {
		// priority = uncertainty × log10(10 + excess errors), uncertainty the
		// mean of the model's and the label model's closeness to their cut.
		var pm, th, pf, ex, got float64
		fmt.Sscan(r[col["p_model"]], &pm)
		fmt.Sscan(r[col["threshold"]], &th)
		fmt.Sscan(r[col["p_faulty"]], &pf)
		fmt.Sscan(r[col["excess_errors"]], &ex)
		fmt.Sscan(r[prio], &got)
		u := ((1 - math.Abs(pm-th)/math.Max(th, 1-th)) + (1 - 2*math.Abs(pf-0.5))) / 2
		if want := u * math.Log10(10+ex); !near(got, want, 2e-3) {
			t.Errorf("%s: priority %v, want %v from its evidence columns", r[0], got, want)
		}
		if r[0] == fxID(27) || r[0] == fxID(30) || r[0] == fxID(31) {
			t.Errorf("annotated deploy %s queued", r[0])
		}
		if r[1] != "" {
			t.Errorf("label of %s prefilled: %q", r[0], r[1])
		}
		var p float64
		fmt.Sscan(r[prio], &p)
		if p > last {
			t.Errorf("queue not ranked by priority: %v after %v", p, last)
		}
		last = p
	}
}

func TestReportHTMLSelfContained(t *testing.T) {
	rep, dir := runFixture(t, true)
	out, err := rep.Write(filepath.Join(dir, "evaluation"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out["report.html"])
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed: every element closed, attributes quoted.
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	var svgs, sparks int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report.html does not parse: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "svg" {
			svgs++
			for _, a := range se.Attr {
				if a.Name.Local == "class" && a.Value == "spark" {
					sparks++
				}
			}
		}
		if se.Name.Local == "script" || se.Name.Local == "link" || se.Name.Local == "img" || se.Name.Local == "iframe" {
			t.Errorf("report.html has a <%s> element", se.Name.Local)
		}
		for _, a := range se.Attr {
			if a.Name.Local == "src" || a.Name.Local == "href" {
				t.Errorf("report.html has %s=%q", a.Name.Local, a.Value)
			}
		}
	}
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).Find(b); m != nil {
		t.Errorf("report.html names an external address: %s", m)
	}
	if bytes.Contains(b, []byte("url(")) || bytes.Contains(b, []byte("@import")) {
		t.Error("report.html loads CSS resources")
	}
	if svgs < 8 || sparks == 0 {
		t.Errorf("%d inline SVG charts, %d sparklines; want ≥ 8 and > 0", svgs, sparks)
	}
	for _, want := range []string{"Headline — against gold_or_weak", "Headline — against truth", "baseline vs weak", "statistical_ensemble", "Label-model calibration"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// TestMetricsJSONGolden pins the structure and values of metrics.json on the
// fixture; run with -update after an intended change. Hashes and paths of
// inputs vary with the Parquet writer and the temp dir and are masked.
func TestMetricsJSONGolden(t *testing.T) {
	rep, dir := runFixture(t, true)
	out, err := rep.Write(filepath.Join(dir, "evaluation"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out["metrics.json"])
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("metrics.json: %v", err)
	}
	for _, k := range []string{"schema_version", "headline_reference", "references", "contenders", "results", "disagreements", "calibration", "lf_report", "lineage"} {
		if _, ok := v[k]; !ok {
			t.Errorf("metrics.json lacks %q", k)
		}
	}
	masked := regexp.MustCompile(`"(sha256|bytes)": ("[0-9a-f]{64}"|[0-9]+)`).ReplaceAll(b, []byte(`"$1": "…"`))
	masked = regexp.MustCompile(`"version": "sha256:[0-9a-f]+"`).ReplaceAll(masked, []byte(`"version": "sha256:…"`))
	masked = bytes.ReplaceAll(masked, []byte(dir), []byte("WORKDIR"))
	golden := filepath.Join("testdata", "metrics.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, masked, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(masked, want) {
		t.Errorf("metrics.json differs from %s; run go test ./evaluation -run Golden -update and review the diff", golden)
	}
}

func TestMissingModelsSkipped(t *testing.T) {
	dir := writeFixture(t)
	if err := os.RemoveAll(filepath.Join(dir, "models", "ensemble")); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Contenders) != 2 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "models/ensemble") {
		t.Errorf("contenders %d, notes %q; want 2 and a note on models/ensemble", len(rep.Contenders), rep.Notes)
	}
	if rep.Headline != RefWeak {
		t.Errorf("headline %q without annotations, want %q", rep.Headline, RefWeak)
	}
}

func TestBadInputs(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(dir string) error
		want   string
	}{
		{"no split", func(dir string) error { return os.Remove(filepath.Join(dir, "split.parquet")) }, "split.parquet"},
		{"corrupt features", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "features_h60.parquet"), []byte("not parquet"), 0o644)
		}, "features_h60.parquet"},
		{"bad lf report", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "lf_report.json"), []byte("{"), 0o644)
		}, "lf_report.json"},
		{"bad model", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "models", "weak", "model_h20.txt"), []byte("tree\nversion=v9\n\n"), 0o644)
		}, "model_h20.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFixture(t)
			if err := tt.break_(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

var sampleDir = flag.String("sample", "", "write the fixture's report to this folder (for looking at it)")

// TestSampleReport writes the fixture's report, queue and summary to
// -sample DIR, for scripts/screenshot.sh; skipped without the flag.
func TestSampleReport(t *testing.T) {
	if *sampleDir == "" {
		t.Skip("no -sample DIR")
	}
	rep, _ := runFixture(t, true)
	if _, err := rep.WriteQueue(filepath.Join(*sampleDir, "queue.csv")); err != nil {
		t.Fatal(err)
	}
	out, err := rep.Write(*sampleDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
}

// modelSetFromTexts builds a contender from LightGBM text models held in
// memory (by horizon), e.g. the artifacts of a registered version, with
// their thresholds and the sequential policy of those thresholds. featureNames are
// used for texts that list no feature_names.
func modelSetFromTexts(name, source, version string, texts map[int][]byte, thresholds map[int]float64, featureNames []string) (*ModelSet, error) {
	ms := &ModelSet{Name: name, Source: source, Version: version, Predictors: map[int]Predictor{}, Thresholds: map[int]float64{}}
	for h, txt := range texts {
		p, err := newLeavesPredictor(txt, featureNames)
		if err != nil {
			return nil, fmt.Errorf("%s: %d-minute model: %w", source, h, err)
		}
		ms.Predictors[h] = p
		th, ok := thresholds[h]
		if !ok {
			return nil, fmt.Errorf("%s: no threshold for the %d-minute model", source, h)
		}
		ms.Thresholds[h] = th
		sum := sha256.Sum256(txt)
		ms.Files = append(ms.Files, InputFile{Path: source + "/" + workdir.ModelFile(h), SHA256: fmt.Sprintf("%x", sum), Bytes: int64(len(txt))})
	}
	if len(ms.Predictors) == 0 {
		return nil, fmt.Errorf("%s: no models", source)
	}
	ms.Policy = policy.FromThresholds(ms.Thresholds)
	return ms, nil
}

// TestProductionHook registers the weak models' texts as the production
// model: the fourth contender must decide exactly as the weak one.
func TestProductionHook(t *testing.T) {
	dir := writeFixture(t)
	called := false
	prod := func(ctx context.Context, in *Inputs) (*ModelSet, error) {
		called = true
		texts := map[int][]byte{10: []byte(fxWeakModel), 20: []byte(fxWeakModel), 60: []byte(fxWeakModel)}
		return modelSetFromTexts("registered", "registry:faultline@production", "7", texts, fxWeakThresholds, nil)
	}
	rep, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig(), Production: prod})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Fatal("production loader not called")
	}
	p, w := rep.Contender(ContenderProduction), rep.Contender(ContenderWeak)
	if p == nil || p.Version != "7" {
		t.Fatalf("production contender %+v", p)
	}
	for _, id := range rep.ids {
		dp, _ := p.Decision(id)
		dw, _ := w.Decision(id)
		if dp.DetectedAt != dw.DetectedAt {
			t.Errorf("%s: production detects at %d, weak at %d", id, dp.DetectedAt, dw.DetectedAt)
		}
	}
	found := false
	for _, d := range rep.Disagreements {
		if d.A == ContenderBaseline && d.B == ContenderProduction {
			found = true
		}
	}
	if !found {
		t.Error("no baseline vs production disagreement set")
	}
	if _, err := modelSetFromTexts("x", "registry:x", "1", map[int][]byte{10: []byte(fxWeakModel)}, map[int]float64{}, nil); err == nil {
		t.Error("a model without a threshold was accepted")
	}
}

// TestNoLabelledTestDeploys: when every labeling function abstained on each
// held-out deploy and none is annotated (a history whose only evidence
// function rarely votes), the report is still written, says why nothing is
// scored, and scores nothing; without labels.parquet at all it fails
// naming what is missing.
func TestNoLabelledTestDeploys(t *testing.T) {
	dir := writeFixture(t)
	var labels []fxLabelRow
	for i := 0; i < fixtureN; i++ {
		l := fxLabelRow{fxID(i), -1, 0, fxPFaulty(i), int8(fxLabel(i))}
		if i >= fixtureTrain+fixtureValid {
			l.LFStats, l.Label = -1, -1
		}
		labels = append(labels, l)
	}
	writeParquet(t, filepath.Join(dir, "labels.parquet"), labels)
	rep, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig()})
	if err != nil {
		t.Fatalf("report on held-out deploys without a label: %v", err)
	}
	w, ok := rep.Reference(RefWeak)
	if !ok || rep.Headline != RefWeak || w.Deploys != 0 {
		t.Fatalf("headline %q, weak reference %v with %d deploys; want the weak reference with none", rep.Headline, ok, w.Deploys)
	}
	if r, ok := rep.Result(ContenderWeak, RefWeak, "policy"); !ok || r.Confusion != (metrics.Confusion{}) {
		t.Errorf("weak vs weak: %+v (found %v), want an empty confusion", r.Confusion, ok)
	}
	found := false
	for _, n := range rep.Notes {
		found = found || strings.Contains(n, "none of the 15 test deploys has a reference label")
	}
	if !found {
		t.Errorf("notes %q: want one saying no test deploy has a reference label", rep.Notes)
	}

	if err := os.Remove(filepath.Join(dir, "labels.parquet")); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig()}); err == nil || !strings.Contains(err.Error(), "no reference labels") {
		t.Errorf("without labels.parquet, annotations or truth: error %v, want one saying there are no reference labels", err)
	}
}
