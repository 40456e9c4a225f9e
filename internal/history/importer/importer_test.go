package importer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if _, err := pgstore.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.OpenStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// baseFiles is a small valid history touching every table and most format
// freedoms: shuffled and absent optional columns, offsets, quoting, CRLF.
func baseFiles() map[string]string {
	var m strings.Builder
	m.WriteString("minute,service,environment,version,requests,errors,latency_p50_ms\r\n")
	for i := range 10 {
		fmt.Fprintf(&m, "2026-06-01T08:%02d:00Z,api,prod,v1,%d,%d,%d.5\r\n", i, 100+i, i%2, 10+i)
	}
	for i := 10; i < 13; i++ {
		fmt.Fprintf(&m, "2026-06-01T10:%02d:00+02:00,api,prod,v2,50,5,\r\n", i)
	}
	return map[string]string{
		"services.csv": "tier,service,team\ncritical,api,core\n",
		"deployments.csv": "deployment_id,service,environment,version,started_at,finished_at,commit_sha,author,files_changed,lines_added,lines_deleted,kind\n" +
			"d1,api,prod,v1,2026-06-01T10:00:00+02:00,2026-06-01T08:05:00Z,abc,\"Doe, Jane\",3,10,2,deploy\n" +
			"d2,api,prod,v2,2026-06-01T08:10:00Z,,,,,,,\n" +
			"d3,api,prod,v1,2026-06-01T08:30:00Z,,,,,,,\n",
		"metrics.csv": m.String(),
		"error_signatures.csv": "service,environment,version,minute,fingerprint,count,error_type,endpoint,status_code\n" +
			"api,prod,v2,2026-06-01T08:11:00Z,fp-1,4,NullPointer,/checkout,500\n" +
			"api,prod,v2,2026-06-01T08:12:00Z,fp-1,1,NullPointer,/checkout,500\n",
		"incidents.csv": "incident_id,service,opened_at,severity,deployment_id\n" +
			"INC-1,api,2026-06-01T08:20:00Z,sev2,d2\n",
		"annotations.csv": "deployment_id,label,annotator,note\n" +
			"d2,faulty,bob,\"broke \"\"checkout\"\",\nsee INC-1\"\n" +
			"d1,healthy,,\n",
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func importDir(t *testing.T, s history.Store, dir string, opts Options) (Summary, error) {
	t.Helper()
	tx, err := s.BeginImport(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return Import(context.Background(), dir, tx, opts)
}

func checkBase(t *testing.T, s history.Reader) {
	t.Helper()
	ctx := context.Background()
	svcs, err := s.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []history.Service{{Name: "api", Team: "core", Tier: "critical"}}; !reflect.DeepEqual(svcs, want) {
		t.Errorf("services %+v, want %+v", svcs, want)
	}
	deps, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	want := []history.Deployment{
		{ID: "d1", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-06-01T08:00:00Z"), FinishedAt: ts("2026-06-01T08:05:00Z"),
			CommitSHA: "abc", Author: "Doe, Jane", FilesChanged: 3, LinesAdded: 10, LinesDeleted: 2, Kind: history.KindDeploy},
		{ID: "d2", Service: "api", Environment: "prod", Version: "v2", StartedAt: ts("2026-06-01T08:10:00Z"),
			FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindDeploy, KindInferred: true},
		{ID: "d3", Service: "api", Environment: "prod", Version: "v1", StartedAt: ts("2026-06-01T08:30:00Z"),
			FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindRollback, KindInferred: true},
	}
	if !reflect.DeepEqual(deps, want) {
		t.Errorf("deployments\n got %+v\nwant %+v", deps, want)
	}
	series, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Version != "v1" || series[1].Version != "v2" {
		t.Fatalf("series: %+v", series)
	}
	v1, v2 := series[0], series[1]
	if v1.Len() != 10 || v1.Minutes[0] != history.UnixMinute(ts("2026-06-01T08:00:00Z")) || v1.Requests[9] != 109 ||
		v1.Errors[1] != 1 || v1.P50[3] != 13.5 || !math.IsNaN(v1.P95[0]) || !math.IsNaN(v1.P99[0]) {
		t.Errorf("v1 series: %+v", v1)
	}
	if v2.Len() != 3 || v2.Minutes[0] != history.UnixMinute(ts("2026-06-01T08:10:00Z")) || v2.Errors[2] != 5 || !math.IsNaN(v2.P50[0]) {
		t.Errorf("v2 series: %+v", v2)
	}
	sigs, err := s.Signatures(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	wantSigs := []history.Signature{
		{Service: "api", Environment: "prod", Version: "v2", Minute: ts("2026-06-01T08:11:00Z"), Fingerprint: "fp-1", Count: 4, ErrorType: "NullPointer", Endpoint: "/checkout", StatusCode: 500},
		{Service: "api", Environment: "prod", Version: "v2", Minute: ts("2026-06-01T08:12:00Z"), Fingerprint: "fp-1", Count: 1, ErrorType: "NullPointer", Endpoint: "/checkout", StatusCode: 500},
	}
	if !reflect.DeepEqual(sigs, wantSigs) {
		t.Errorf("signatures\n got %+v\nwant %+v", sigs, wantSigs)
	}
	incs, err := s.Incidents(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []history.Incident{{ID: "INC-1", Service: "api", OpenedAt: ts("2026-06-01T08:20:00Z"), Severity: "sev2", DeploymentID: "d2"}}; !reflect.DeepEqual(incs, want) {
		t.Errorf("incidents %+v, want %+v", incs, want)
	}
	anns, err := s.Annotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAnns := []history.Annotation{
		{DeploymentID: "d1", Label: "healthy"},
		{DeploymentID: "d2", Label: "faulty", Annotator: "bob", Note: "broke \"checkout\",\nsee INC-1"},
	}
	if !reflect.DeepEqual(anns, wantAnns) {
		t.Errorf("annotations\n got %+v\nwant %+v", anns, wantAnns)
	}
}

func TestImportRoundTripCSV(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, baseFiles())
	var stages []string
	sum, err := importDir(t, s, dir, Options{Progress: func(stage string, done, total int64) {
		if len(stages) == 0 || stages[len(stages)-1] != stage {
			stages = append(stages, stage)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{ImportSummary: history.ImportSummary{Services: 1, Deployments: 3, Metrics: 13, Signatures: 2, Incidents: 1, Annotations: 2, RollbacksInferred: 1}}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	checkBase(t, s)
	wantStages := []string{"import services.csv", "import deployments.csv", "import metrics.csv", "import error_signatures.csv", "import incidents.csv", "import annotations.csv"}
	if !slices.Equal(stages, wantStages) {
		t.Errorf("progress stages %v, want %v", stages, wantStages)
	}
}

// TestImportManySmallChunks forces many parser runs, workers and batches so
// that reordering, batching and quoted newlines across run boundaries are
// exercised.
func TestImportManySmallChunks(t *testing.T) {
	old := csvChunkSize
	csvChunkSize = 40
	defer func() { csvChunkSize = old }()
	s := newStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, baseFiles())
	if _, err := importDir(t, s, dir, Options{BatchRows: 2, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	checkBase(t, s)
}

// snapshot fingerprints every history table's contents.
func snapshot(t *testing.T, s *pgstore.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range []string{"services", "deployments", "series", "metrics", "error_fingerprints", "error_signatures", "incidents", "annotations"} {
		var n int64
		var sum *string
		if err := s.Pool().QueryRow(context.Background(),
			fmt.Sprintf(`SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM %s t`, tb)).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprint(n)
		if sum != nil {
			v += " " + *sum
		}
		out[tb] = v
	}
	return out
}

func TestReimportIsIdempotent(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, baseFiles())
	if _, err := importDir(t, s, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)
	if _, err := importDir(t, s, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
		t.Errorf("re-import changed the store:\n%v\n%v", before, after)
	}
	checkBase(t, s)
	// Changed values under the same keys are updated, not duplicated.
	files := baseFiles()
	files["metrics.csv"] = strings.Replace(files["metrics.csv"], "2026-06-01T08:00:00Z,api,prod,v1,100,0,10.5", "2026-06-01T08:00:00Z,api,prod,v1,777,7,1.5", 1)
	files["annotations.csv"] = strings.Replace(files["annotations.csv"], "d2,faulty,bob", "d2,healthy,bob", 1)
	writeFiles(t, dir, files)
	if _, err := importDir(t, s, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, s)
	for _, tb := range []string{"metrics", "annotations"} {
		if strings.Fields(after[tb])[0] != strings.Fields(before[tb])[0] {
			t.Errorf("%s row count changed: %s -> %s", tb, before[tb], after[tb])
		}
	}
	ctx := context.Background()
	series, err := s.Metrics(ctx, history.Stream{Service: "api", Environment: "prod"}, history.Range{Until: ts("2026-06-01T08:01:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || series[0].Requests[0] != 777 || series[0].Errors[0] != 7 || series[0].P50[0] != 1.5 {
		t.Errorf("updated metric: %+v", series)
	}
	anns, _ := s.Annotations(ctx)
	if len(anns) != 2 || anns[1].Label != "healthy" {
		t.Errorf("updated annotation: %+v", anns)
	}
}

func TestValidationErrors(t *testing.T) {
	s := newStore(t)
	base := t.TempDir()
	writeFiles(t, base, baseFiles())
	if _, err := importDir(t, s, base, Options{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)
	const depHeader = "deployment_id,service,environment,version,started_at,kind\n"
	const metHeader = "service,environment,version,minute,requests,errors\n"
	const metOK = "api,prod,v9,2026-06-02T00:00:00Z,10,1\n"
	tests := []struct {
		name  string
		files map[string]string // replaced files
		opts  Options
		want  []string // problems, in order
		trunc bool
	}{
		{
			name:  "bad timestamp",
			files: map[string]string{"deployments.csv": depHeader + "d9,api,prod,v9,2026-06-01 08:00:00,\n"},
			want:  []string{`deployments.csv:2: started_at: not an RFC 3339 timestamp: "2026-06-01 08:00:00"`},
		},
		{
			name:  "errors exceed requests",
			files: map[string]string{"metrics.csv": metHeader + metOK + "api,prod,v9,2026-06-02T00:01:00Z,10,11\n"},
			want:  []string{`metrics.csv:3: errors: 11 exceeds requests (10)`},
		},
		{
			name:  "unknown deployment in annotations",
			files: map[string]string{"annotations.csv": "deployment_id,label\nd1,faulty\nd-404,healthy\nd2,faulty\nd-404,faulty\n"}, // keep the key unique: the second d-404 row has an annotator

			want: nil, // set below: duplicate key first
		},
		{
			name:  "duplicate deployment id",
			files: map[string]string{"deployments.csv": depHeader + "d7,api,prod,v7,2026-06-01T09:00:00Z,\nd8,api,prod,v8,2026-06-01T09:10:00Z,\nd7,api,prod,v9,2026-06-01T09:20:00Z,\n"},
			want:  []string{`deployments.csv:4: deployment_id: duplicate key "d7" (first at line 2)`},
		},
		{
			name:  "duplicate metric key",
			files: map[string]string{"metrics.csv": metHeader + metOK + "api,prod,v9,2026-06-02T00:01:00Z,10,1\napi,prod,v9,2026-06-02T00:00:00+00:00,3,1\n"},
			want:  []string{`metrics.csv:4: minute: duplicate key: an earlier row has the same service, environment, version and minute 2026-06-02T00:00:00Z (timestamps are floored to the minute: give one row per minute)`},
		},
		{
			name: "duplicate signature key",
			files: map[string]string{"error_signatures.csv": "service,environment,version,minute,fingerprint,count\n" +
				"api,prod,v2,2026-06-01T08:03:00Z,fp-a,1\napi,prod,v2,2026-06-01T08:03:00Z,fp-b,1\napi,prod,v2,2026-06-01T08:03:10Z,fp-b,2\n" +
				"api,prod,v2,2026-06-01T08:01:00Z,fp-a,1\napi,prod,v2,2026-06-01T08:03:00Z,fp-a,1\n"},
			want: []string{
				`error_signatures.csv:4: minute: duplicate key: line 3 has the same service, environment, version, minute and fingerprint 2026-06-01T08:03:00Z (timestamps are floored to the minute: give one row per minute)`,
				`error_signatures.csv:6: minute: duplicate key: an earlier row has the same service, environment, version, minute and fingerprint 2026-06-01T08:03:00Z (timestamps are floored to the minute: give one row per minute)`,
			},
		},
		{
			name:  "missing required column",
			files: map[string]string{"metrics.csv": "service,environment,version,minute,errors\napi,prod,v9,2026-06-02T00:00:00Z,1\n"},
			want:  []string{`metrics.csv:1: requests: required column missing`},
		},
		{
			name:  "two rows in one minute after flooring",
			files: map[string]string{"metrics.csv": metHeader + "api,prod,v9,2026-06-02T00:00:30Z,10,1\napi,prod,v9,2026-06-02T00:00:50.5+00:00,10,1\n"},
			want:  []string{`metrics.csv:3: minute: duplicate key: line 2 has the same service, environment, version and minute 2026-06-02T00:00:00Z (timestamps are floored to the minute: give one row per minute)`},
		},
		{
			name: "timestamps outside 1970..2099",
			files: map[string]string{"metrics.csv": metHeader + "api,prod,v9,0001-01-01T00:00:00Z,10,1\napi,prod,v9,9999-12-31T23:59:00Z,10,1\n",
				"deployments.csv": depHeader + "d9,api,prod,v9,1969-12-31T23:59:59Z,\n"},
			want: []string{`deployments.csv:2: started_at: outside 1970..2099: 1969-12-31T23:59:59Z`,
				`metrics.csv:2: minute: outside 1970..2099: 0001-01-01T00:00:00Z`, `metrics.csv:3: minute: outside 1970..2099: 9999-12-31T23:59:00Z`},
		},
		{
			name:  "finished before started",
			files: map[string]string{"deployments.csv": "deployment_id,service,environment,version,started_at,finished_at\nd9,api,prod,v9,2026-06-01T09:00:00Z,2026-06-01T08:59:59.5Z\n"},
			want:  []string{`deployments.csv:2: finished_at: before started_at (2026-06-01T08:59:59.5Z < 2026-06-01T09:00:00Z)`},
		},
		{
			name: "identifiers over 200 bytes",
			files: map[string]string{"deployments.csv": depHeader + strings.Repeat("d", 40<<10) + ",api,prod,v9,2026-06-01T09:00:00Z,\nd9,api,prod," + strings.Repeat("v", 201) + ",2026-06-01T09:00:00Z,\n",
				"annotations.csv": "deployment_id,label,annotator\nd1,faulty," + strings.Repeat("a", 300) + "\n"},
			want: []string{`deployments.csv:2: deployment_id: longer than 200 bytes (40960)`, `deployments.csv:3: version: longer than 200 bytes (201)`,
				`annotations.csv:2: annotator: longer than 200 bytes (300)`},
		},
		{
			name:  "non-finite and non-numeric counts",
			files: map[string]string{"metrics.csv": metHeader + "api,prod,v9,2026-06-02T00:00:00Z,NaN,1\napi,prod,v9,2026-06-02T00:01:00Z,10,+Inf\napi,prod,v9,2026-06-02T00:02:00Z,1e999,0\napi,prod,v9,2026-06-02T00:03:00Z,1.5,1.50000001\n"},
			want: []string{`metrics.csv:2: requests: not a finite number: "NaN"`, `metrics.csv:3: errors: not a finite number: "+Inf"`,
				`metrics.csv:4: requests: not a finite number: "1e999"`, `metrics.csv:5: errors: 1.50000001 exceeds requests (1.5)`},
		},
		{
			name: "KPI declarations",
			files: map[string]string{"kpis.csv": "service,environment,name,direction,kind,unit\napi,,ok,lower_is_worse,ratio,\napi,,bad,up,percent,%\napi,,ok,both,gauge,\n" +
				"api,prod," + strings.Repeat("k", 201) + ",both,gauge,\n"},
			want: []string{`kpis.csv:3: direction: must be higher_is_worse, lower_is_worse or both, not "up"`, `kpis.csv:3: kind: must be rate, ratio, latency or gauge, not "percent"`,
				`kpis.csv:4: name: duplicate key (service, environment, name) (first at line 2)`, `kpis.csv:5: name: longer than 200 bytes (201)`},
		},
		{
			name: "KPI values: duplicate minute, not a number",
			files: map[string]string{"kpis.csv": "service,name,direction,kind\napi,rps,both,rate\n",
				"kpi_values.csv": "service,environment,minute,name,value\napi,prod,2026-06-02T00:00:10Z,rps,3\napi,prod,2026-06-02T00:00:40Z,rps,4\napi,prod,2026-06-02T00:01:00Z,rps,x\n"},
			want: []string{`kpi_values.csv:3: minute: duplicate key: line 2 has the same service, environment, version, name and minute 2026-06-02T00:00:00Z (timestamps are floored to the minute: give one row per minute)`,
				`kpi_values.csv:4: value: not a number: "x"`},
		},
		{
			name: "KPI values the declarations do not allow",
			files: map[string]string{"kpis.csv": "service,environment,name,direction,kind\napi,,success,lower_is_worse,ratio\napi,,rps,both,rate\n",
				"kpi_values.csv": "service,environment,version,minute,name,value\n" +
					"api,prod,,2026-06-02T00:00:00Z,success,0.99\napi,prod,,2026-06-02T00:01:00Z,success,99.5\napi,prod,,2026-06-02T00:02:00Z,success,0.98\n" +
					"api,prod,v1,2026-06-02T00:00:00Z,rps,-2\napi,prod,v1,2026-06-02T00:01:00Z,rps,5\napi,staging,,2026-06-02T00:00:00Z,latency,5\n"},
			want: []string{`kpi_values.csv:3: value: KPI "success": a ratio must be in [0, 1] (a fraction, not a percentage), got 99.5`,
				`kpi_values.csv:5: value: KPI "rps": a rate must be >= 0, got -2`,
				`kpi_values.csv:7: name: KPI "latency" is not declared for service "api" in environment "staging" (declare it in kpis.csv)`},
		},
		{
			name:  "negative counts",
			files: map[string]string{"metrics.csv": metHeader + "api,prod,v9,2026-06-02T00:00:00Z,-5,0\n", "deployments.csv": depHeader[:len(depHeader)-1] + ",files_changed\nd9,api,prod,v9,2026-06-01T09:00:00Z,,-1\n"},
			want:  []string{`deployments.csv:2: files_changed: must be >= 0, got -1`, `metrics.csv:2: requests: must be >= 0, got -5`},
		},
		{
			name:  "bad label",
			files: map[string]string{"annotations.csv": "deployment_id,label\nd1,broken\n"},
			want:  []string{`annotations.csv:2: label: must be faulty or healthy, not "broken"`},
		},
		{
			name:  "bad kind",
			files: map[string]string{"deployments.csv": depHeader + "d9,api,prod,v9,2026-06-01T09:00:00Z,redeploy\n"},
			want:  []string{`deployments.csv:2: kind: must be deploy or rollback, not "redeploy"`},
		},
		{
			name:  "unknown column",
			files: map[string]string{"incidents.csv": "incident_id,service,opened_at,owner\nINC-9,api,2026-06-01T08:20:00Z,ann\n"},
			want:  []string{`incidents.csv:1: owner: unknown column (--ignore-unknown-columns skips it)`},
		},
		{
			name:  "wrong field count and bad quote",
			files: map[string]string{"metrics.csv": metHeader + "api,prod,v9,2026-06-02T00:00:00Z,10\napi,pr\"od,v9,2026-06-02T00:01:00Z,10,1\n"},
			want:  []string{`metrics.csv:2: (row): 5 fields, header has 6`, `metrics.csv:3: field 2: bare " in unquoted field (quote the field and double the quote)`},
		},
		{
			name:  "not an integer, empty required value, bad latency",
			files: map[string]string{"metrics.csv": metHeader[:len(metHeader)-1] + ",latency_p99_ms\napi,,v9,2026-06-02T00:00:00Z,ten,1,-3\n"},
			want: []string{`metrics.csv:2: environment: required value is empty`, `metrics.csv:2: requests: not a number: "ten"`,
				`metrics.csv:2: latency_p99_ms: must be >= 0, got -3`},
		},
		{
			name:  "max errors",
			files: map[string]string{"metrics.csv": metHeader + strings.Repeat("api,prod,v9,x,1,0\n", 5)},
			opts:  Options{MaxErrors: 3},
			want: []string{`metrics.csv:2: minute: not an RFC 3339 timestamp: "x"`, `metrics.csv:3: minute: not an RFC 3339 timestamp: "x"`,
				`metrics.csv:4: minute: not an RFC 3339 timestamp: "x"`},
			trunc: true,
		},
	}
	tests[2].files["annotations.csv"] = "deployment_id,label,annotator\nd1,faulty,\nd-404,healthy,\nd2,faulty,\nd-404,faulty,ann\nd-405,faulty,\n"
	tests[2].want = []string{`annotations.csv:3: deployment_id: unknown deployment "d-404"`, `annotations.csv:5: deployment_id: unknown deployment "d-404"`,
		`annotations.csv:6: deployment_id: unknown deployment "d-405"`}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := baseFiles()
			for k, v := range tt.files {
				files[k] = v
			}
			writeFiles(t, dir, files)
			_, err := importDir(t, s, dir, tt.opts)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
			if ve.Truncated != tt.trunc {
				t.Errorf("Truncated = %v, want %v", ve.Truncated, tt.trunc)
			}
			if !strings.HasPrefix(err.Error(), strings.Join(tt.want, "\n")+"\n(") {
				t.Errorf("Error() = %q", err.Error())
			}
			if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("store changed by a rejected import:\n%v\n%v", before, after)
			}
		})
	}
}

func TestIgnoreUnknownColumns(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	files := baseFiles()
	files["incidents.csv"] = "owner,incident_id,service,opened_at,severity,deployment_id\nann,INC-1,api,2026-06-01T08:20:00Z,sev2,d2\n"
	writeFiles(t, dir, files)
	if _, err := importDir(t, s, dir, Options{IgnoreUnknownColumns: true}); err != nil {
		t.Fatal(err)
	}
	checkBase(t, s)
}

func TestFilesDiscovery(t *testing.T) {
	dir := t.TempDir()
	if _, err := FindFiles(dir, true); err == nil || !strings.Contains(err.Error(), "deployments.csv (or deployments.parquet) is required") {
		t.Errorf("empty folder: %v", err)
	}
	writeFiles(t, dir, map[string]string{"deployments.csv": "x\n", "metrics.csv": "x\n", "metrics.parquet": "x", "truth.csv": "x\n"})
	if _, err := FindFiles(dir, true); err == nil || !strings.Contains(err.Error(), "both metrics.csv and metrics.parquet") {
		t.Errorf("both formats: %v", err)
	}
	os.Remove(filepath.Join(dir, "metrics.parquet"))
	f, err := FindFiles(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 2 || f["metrics"] != filepath.Join(dir, "metrics.csv") {
		t.Errorf("files %v", f)
	}
	if _, err := FindFiles(filepath.Join(dir, "nope"), true); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestHeaderOnlyAndEmptyFiles(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"deployments.csv": "\ufeffdeployment_id,service,environment,version,started_at\r\n",
		"metrics.csv":     "service,environment,version,minute,requests,errors",
	})
	sum, err := importDir(t, s, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sum, Summary{}) {
		t.Errorf("header-only import wrote %+v", sum)
	}
	writeFiles(t, dir, map[string]string{"metrics.csv": ""})
	_, err = importDir(t, s, dir, Options{})
	if err == nil || err.Error() != "metrics.csv: empty file: a header row is required" {
		t.Errorf("empty file: %v", err)
	}
}

func TestFindFilesPartial(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"annotations.csv": "deployment_id,label\nd1,faulty\n"})
	if _, err := FindFiles(dir, true); err == nil || !strings.Contains(err.Error(), "deployments.csv (or deployments.parquet) is required") {
		t.Errorf("empty store, annotations only: err = %v", err)
	}
	got, err := FindFiles(dir, false)
	if err != nil || len(got) != 1 || got["annotations"] == "" {
		t.Errorf("history exists, annotations only: %v, %v", got, err)
	}
	empty := t.TempDir()
	if _, err := FindFiles(empty, false); err == nil || !strings.Contains(err.Error(), "no import files") {
		t.Errorf("empty folder: err = %v", err)
	}
}
