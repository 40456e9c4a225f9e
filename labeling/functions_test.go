package labeling

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/history"
)

// votesOf computes the votes of cfg's functions on h and returns them by
// function, then deployment id.
func votesOf(t *testing.T, h *memHistory, cfg Config, workdir string) map[string]map[string]int8 {
	t.Helper()
	if workdir == "" {
		workdir = t.TempDir()
	}
	res, err := Compute(context.Background(), cfg, Input{History: h, Workdir: workdir})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int8{}
	for j, name := range res.Votes.Names {
		out[name] = map[string]int8{}
		for i, id := range res.IDs {
			out[name][id] = res.Votes.Cols[j][i]
		}
	}
	return out
}

func checkVotes(t *testing.T, fn string, got map[string]int8, want map[string]int8) {
	t.Helper()
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("%s on %s: vote %d, want %d", fn, id, g, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok && g != abstain {
			t.Errorf("%s on %s: vote %d, want abstain", fn, id, g)
		}
	}
}

func TestRollbackAndShortLived(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("a", "v1", 0, history.KindDeploy),
		dep("b", "v2", 1, history.KindDeploy),    // replaced by a rollback after 1h
		dep("c", "v1", 3, history.KindRollback),  // explicit rollback
		dep("d", "v3", 10, history.KindDeploy),   // replaced after 1h by v4: short-lived
		dep("e", "v4", 11, history.KindDeploy),   // redeployed at 11.5h, replaced at 20h
		dep("f", "v4", 11.5, history.KindDeploy), // same version: not a replacement
		dep("g", "v5", 20, history.KindDeploy),   // replaced by an inferred rollback
		dep("h", "v4", 21, history.KindDeploy),   // v4 was deployed before: a rollback
		dep("i", "v6", 30, history.KindDeploy),   // replaced after 50h
		dep("j", "v7", 80, history.KindDeploy),   // last
		dep("k", "v8", 200, history.KindDeploy),  // rolled back after 60h: too late
		dep("l", "v7", 260, history.KindRollback),
	}}
	v := votesOf(t, h, only(FnRollback, FnShortLived), "")
	checkVotes(t, FnRollback, v[FnRollback], map[string]int8{"b": faulty, "g": faulty})
	checkVotes(t, FnShortLived, v[FnShortLived], map[string]int8{"a": faulty, "d": faulty})
}

func TestIncident(t *testing.T) {
	h := &memHistory{
		deps: []history.Deployment{
			dep("p1", "v1", 0, history.KindDeploy),
			dep("p2", "v2", 5, history.KindDeploy),
			{ID: "q1", Service: "svc", Environment: "dev", Version: "v1", StartedAt: at(4)},
			{ID: "o1", Service: "other", Environment: "prod", Version: "v1", StartedAt: at(5)},
		},
		incidents: []history.Incident{
			{ID: "linked", Service: "svc", Environment: "prod", OpenedAt: at(20), DeploymentID: "p1"},
			{ID: "soon", Service: "svc", Environment: "prod", OpenedAt: at(5.5)},   // 30 min after p2
			{ID: "all-envs", Service: "svc", OpenedAt: at(4.75)},                   // dev: 45 min after q1; prod: p1 too old
			{ID: "late", Service: "other", Environment: "prod", OpenedAt: at(8.5)}, // 3.5 h after o1
		},
	}
	v := votesOf(t, h, only(FnIncident), "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"p1": faulty, "p2": faulty, "q1": faulty})

	cfg := only(FnIncident)
	cfg.Incident.Linked = false
	v = votesOf(t, h, cfg, "")
	checkVotes(t, FnIncident, v[FnIncident], map[string]int8{"p2": faulty, "q1": faulty})
}

func TestLatencyDegradation(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("base", "v1", 0, history.KindDeploy),
		dep("slow", "v2", 4, history.KindDeploy),
		dep("fine", "v3", 8, history.KindDeploy),
		dep("thin", "v4", 12, history.KindDeploy),
	}}
	h.traffic("v1", 0, 4, 100, 0, 100)
	h.traffic("v2", 4, 8, 100, 0, 200) // p95 doubles
	h.traffic("v3", 8, 12, 100, 0, 210)
	h.traffic("v4", 12, 16, 2, 0, 900) // too little traffic to judge
	v := votesOf(t, h, only(FnLatency), "")
	checkVotes(t, FnLatency, v[FnLatency], map[string]int8{"slow": faulty})
}

func TestNewErrorSignatures(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("base", "v1", 0, history.KindDeploy),
		dep("new", "v2", 10, history.KindDeploy),
		dep("old", "v3", 20, history.KindDeploy),
		dep("blip", "v4", 30, history.KindDeploy),
		dep("few", "v5", 40, history.KindDeploy),
		dep("faint", "v6", 50, history.KindDeploy), // persistent but 0.2 errors per 1000 requests
	}}
	h.traffic("v1", 0, 10, 100, 1, 50)
	h.traffic("v2", 10, 20, 100, 3, 50)
	h.traffic("v3", 20, 30, 100, 3, 50)
	h.traffic("v4", 30, 40, 100, 1, 50)
	h.traffic("v5", 40, 50, 100, 1, 50)
	h.traffic("v6", 50, 60, 10000, 3, 50)
	h.signature("v1", "known", 5, 10, 1)
	h.signature("v2", "fresh", 10, 12, 2)          // new, every minute for 2 h
	h.signature("v3", "known", 20, 22, 2)          // seen on the stream before
	h.signature("v4", "restart", 30, 30.05, 10)    // 3 minutes at the start, then gone
	h.signature("v5", "rare", 40.5, 40.5+1./60, 5) // one minute, 5 errors
	h.signature("v6", "faint", 50, 52, 2)
	v := votesOf(t, h, only(FnNewSignatures), "")
	checkVotes(t, FnNewSignatures, v[FnNewSignatures], map[string]int8{"new": faulty})
}

func TestHealthyEvidence(t *testing.T) {
	h := &memHistory{
		deps: []history.Deployment{
			dep("base", "v1", 0, history.KindDeploy),
			dep("good", "v2", 10, history.KindDeploy),
			dep("errors", "v3", 20, history.KindDeploy),
			dep("incident", "v4", 30, history.KindDeploy),
			dep("short", "v5", 40, history.KindDeploy),
			dep("slow", "v6", 43, history.KindDeploy),
			dep("rolledback", "v7", 60, history.KindDeploy),
			dep("back", "v6", 70, history.KindRollback),
			dep("end", "v8", 80, history.KindDeploy), // history ends 2 h later
		},
		incidents: []history.Incident{{ID: "i", Service: "svc", Environment: "prod", OpenedAt: at(33)}},
	}
	h.traffic("v1", 0, 10, 100, 1, 100)
	h.traffic("v2", 10, 20, 100, 1, 100)
	h.traffic("v3", 20, 30, 100, 4, 100)
	h.traffic("v4", 30, 40, 100, 1, 100)
	h.traffic("v5", 40, 43, 100, 1, 100)
	h.traffic("v6", 43, 60, 100, 1, 300)
	h.traffic("v7", 60, 70, 100, 1, 100)
	h.traffic("v6", 70, 80, 100, 1, 100)
	h.traffic("v8", 80, 82, 100, 1, 100)
	v := votesOf(t, h, only(FnHealthy), "")
	// base has no traffic before it to compare with, and is fine otherwise.
	checkVotes(t, FnHealthy, v[FnHealthy], map[string]int8{"base": healthy, "good": healthy, "back": healthy})
}

type featureRow struct {
	DeploymentID   string  `parquet:"deployment_id"`
	ImpactPass     float64 `parquet:"impact_pass"`
	EnsembleFaulty float64 `parquet:"ensemble_faulty"`
}

func writeFeatures(t *testing.T, dir string, rows []featureRow) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, FeaturesFile(60)))
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[featureRow](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStatisticalEnsemble(t *testing.T) {
	h := &memHistory{deps: []history.Deployment{
		dep("yes", "v1", 0, history.KindDeploy),
		dep("no", "v2", 1, history.KindDeploy),
		dep("unsure", "v3", 2, history.KindDeploy),
		dep("absent", "v4", 3, history.KindDeploy),
	}}
	dir := t.TempDir()
	writeFeatures(t, dir, []featureRow{{"yes", 1, 1}, {"no", 0, 0}, {"unsure", nan, nan}})
	v := votesOf(t, h, only(FnEnsemble), dir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], map[string]int8{"yes": faulty, "no": healthy})

	cfg := only(FnEnsemble)
	cfg.Ensemble.VoteHealthy = false
	v = votesOf(t, h, cfg, dir)
	checkVotes(t, FnEnsemble, v[FnEnsemble], map[string]int8{"yes": faulty})

	// A missing features file is an error that says what to do.
	_, err := Compute(context.Background(), only(FnEnsemble), Input{History: h, Workdir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "faultline extract") || !strings.Contains(err.Error(), FeaturesFile(60)) {
		t.Fatalf("missing features file: error %v", err)
	}
	// A bad value names the file and row.
	writeFeatures(t, dir, []featureRow{{"yes", 1, 1}, {"no", 0, 0.5}})
	_, err = Compute(context.Background(), only(FnEnsemble), Input{History: h, Workdir: dir})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), FeaturesFile(60)) {
		t.Fatalf("bad ensemble value: error %v", err)
	}
}

// fleetHistory is a small history where several functions fire.
func fleetHistory() *memHistory {
	h := &memHistory{deps: []history.Deployment{
		dep("a", "v1", 0, history.KindDeploy),
		dep("b", "v2", 10, history.KindDeploy),
		dep("c", "v1", 11, history.KindRollback),
		dep("d", "v3", 20, history.KindDeploy),
		dep("e", "v4", 30, history.KindDeploy),
		dep("f", "v5", 31, history.KindDeploy),
		dep("g", "v6", 40, history.KindDeploy),
	}, incidents: []history.Incident{{ID: "i1", Service: "svc", Environment: "prod", OpenedAt: at(10.5), DeploymentID: "b"}}}
	for i, v := range []string{"v1", "v2", "v1", "v3", "v4", "v5", "v6"} {
		from := []float64{0, 10, 11, 20, 30, 31, 40}[i]
		to := []float64{10, 11, 20, 30, 31, 40, 50}[i]
		errs := int64(1)
		if v == "v2" || v == "v4" {
			errs = 10
		}
		h.traffic(v, from, to, 100, errs, 100)
	}
	return h
}

func TestVotesNeverReadAnnotations(t *testing.T) {
	cfg := only(FnRollback, FnShortLived, FnIncident, FnHealthy, FnLatency, FnNewSignatures)
	h := fleetHistory()
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "faulty"}, {DeploymentID: "d", Label: "healthy"}}
	r1, err := Compute(context.Background(), cfg, Input{History: h, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "healthy"}, {DeploymentID: "d", Label: "faulty"}, {DeploymentID: "e", Label: "faulty"}}
	r2, err := Compute(context.Background(), cfg, Input{History: h, Workdir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for j := range r1.Votes.Cols {
		if !slices.Equal(r1.Votes.Cols[j], r2.Votes.Cols[j]) {
			t.Errorf("votes of %s changed with the annotations", r1.Votes.Names[j])
		}
	}
	if !slices.Equal(r1.PFaulty, r2.PFaulty) {
		t.Error("p_faulty changed with the annotations")
	}
	// The report does measure against them.
	if r1.Report.Annotations == nil || r2.Report.Annotations == nil {
		t.Fatal("report has no annotation summary")
	}
	if r1.Report.Annotations.Deployments != 2 || r2.Report.Annotations.Deployments != 3 {
		t.Errorf("annotated deployments %d and %d, want 2 and 3", r1.Report.Annotations.Deployments, r2.Report.Annotations.Deployments)
	}
	var rb1, rb2 *Empirical
	for i := range r1.Report.Functions {
		if r1.Report.Functions[i].Name == FnRollback {
			rb1, rb2 = r1.Report.Functions[i].Empirical, r2.Report.Functions[i].Empirical
		}
	}
	if rb1 == nil || rb2 == nil || rb1.FaultyCorrect != 1 || rb2.FaultyCorrect != 0 {
		t.Errorf("rollback empirical accuracy %+v and %+v, want 1 then 0 correct faulty votes", rb1, rb2)
	}
}

func TestRunWritesOutputs(t *testing.T) {
	h := fleetHistory()
	h.anns = []history.Annotation{{DeploymentID: "b", Label: "faulty", Annotator: "x"}, {DeploymentID: "b", Label: "healthy", Annotator: "y"}}
	dir := t.TempDir()
	cfg := only(FnRollback, FnShortLived, FnIncident, FnHealthy)
	res, err := Run(context.Background(), cfg, Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{LabelsFile, ReportFile}) {
		t.Fatalf("work directory holds %v, want exactly %s and %s", names, LabelsFile, ReportFile)
	}
	f, err := os.Open(filepath.Join(dir, LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range pf.Schema().Fields() {
		cols = append(cols, c.Name()+":"+c.Type().String())
	}
	want := []string{"deployment_id:BYTE_ARRAY", "lf_rollback:INT32", "lf_short_lived:INT32", "lf_incident:INT32",
		"lf_healthy_evidence:INT32", "p_faulty:DOUBLE", "label:INT32"}
	for i := range want {
		want[i] = strings.Split(want[i], ":")[0]
	}
	for i := range cols {
		cols[i] = strings.Split(cols[i], ":")[0]
	}
	if !slices.Equal(cols, want) {
		t.Fatalf("labels.parquet columns %v, want %v", cols, want)
	}
	for _, c := range pf.Schema().Fields() {
		if strings.HasPrefix(c.Name(), "lf_") || c.Name() == "label" {
			if lt := c.Type().LogicalType(); lt == nil || lt.String() != "INT(8,true)" {
				t.Errorf("column %s: logical type %v, want INT(8, signed)", c.Name(), lt)
			}
		}
	}
	cv, n, err := readParquetColumns(filepath.Join(dir, LabelsFile), "deployment_id", "lf_rollback", "p_faulty", "label")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(res.IDs) {
		t.Fatalf("labels.parquet has %d rows, want %d", n, len(res.IDs))
	}
	for i := range n {
		if cv["deployment_id"][i].String() != res.IDs[i] || int8(cv["lf_rollback"][i].Int32()) != res.Votes.Cols[0][i] ||
			cv["p_faulty"][i].Double() != res.PFaulty[i] || int8(cv["label"][i].Int32()) != res.Label[i] {
			t.Fatalf("row %d differs from the result", i)
		}
	}
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != ReportSchema || rep.Rows != len(res.IDs) || len(rep.Functions) != 4 {
		t.Fatalf("report %+v", rep)
	}
	// b's annotators disagree: no annotated deployment counts.
	if rep.Annotations != nil {
		t.Errorf("annotations summary %+v, want null (the only annotated deployment is split)", rep.Annotations)
	}
	for _, fr := range rep.Functions {
		if fr.Name == FnRollback && (fr.Polarity != "faulty" || fr.Votes.Faulty != 1 || fr.Coverage != Num(1.0/7)) {
			t.Errorf("rollback report %+v", fr)
		}
	}
}

func TestDeploysFileSelectsRows(t *testing.T) {
	h := fleetHistory()
	dir := t.TempDir()
	type row struct {
		ID string `parquet:"deployment_id"`
	}
	write := func(ids ...string) {
		f, err := os.Create(filepath.Join(dir, DeploysFile))
		if err != nil {
			t.Fatal(err)
		}
		w := parquet.NewGenericWriter[row](f)
		for _, id := range ids {
			if _, err := w.Write([]row{{id}}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		f.Close()
	}
	write("d", "b", "c")
	res, err := Compute(context.Background(), only(FnRollback, FnShortLived), Input{History: h, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []string{"d", "b", "c"}) {
		t.Fatalf("rows %v, want the file's d, b, c", res.IDs)
	}
	// b's rollback is still seen: c is in the history whatever the file lists.
	if res.Votes.Cols[0][1] != faulty {
		t.Errorf("rollback vote on b = %d, want faulty", res.Votes.Cols[0][1])
	}
	write("a", "zz")
	_, err = Compute(context.Background(), only(FnRollback), Input{History: h, Workdir: dir})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "zz") || !strings.Contains(err.Error(), DeploysFile) {
		t.Fatalf("unknown deployment: error %v", err)
	}
}

func TestSQLFunctionsNeedPostgres(t *testing.T) {
	cfg := only(FnRollback)
	cfg.SQLFunctions = []SQLFunction{{Name: "big_change", SQL: "SELECT deployment_id, 1 FROM deployments"}}
	_, err := Compute(context.Background(), cfg, Input{History: fleetHistory(), Workdir: t.TempDir()})
	if !errors.Is(err, ErrSQLNeedsPostgres) || !strings.Contains(err.Error(), "big_change") || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("error %v, want ErrSQLNeedsPostgres naming big_change and --db", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"bad window", func(c *Config) { c.ShortLived.WithinHours = 0 }, "short_lived.within_hours"},
		{"bad persist", func(c *Config) { c.NewSignatures.MinPersist = 2 }, "min_persist"},
		{"bad sql name", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: "Bad Name", SQL: "SELECT 1"}} }, "lower-case"},
		{"sql name clash", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: FnRollback, SQL: "SELECT 1"}} }, "already used"},
		{"empty sql", func(c *Config) { c.SQLFunctions = []SQLFunction{{Name: "x", SQL: " "}} }, "sql is empty"},
		{"reads annotations", func(c *Config) {
			c.SQLFunctions = []SQLFunction{{Name: "cheat", SQL: "SELECT deployment_id, label FROM Annotations"}}
		}, "annotations"},
		{"all disabled", func(c *Config) { *c = only() }, "disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParseVote(t *testing.T) {
	cases := []struct {
		in   any
		want int8
		ok   bool
	}{
		{nil, abstain, true}, {int32(1), faulty, true}, {int64(0), healthy, true}, {int16(-1), abstain, true},
		{"faulty", faulty, true}, {"Healthy", healthy, true}, {"abstain", abstain, true}, {"1", faulty, true},
		{true, faulty, true}, {false, healthy, true}, {float64(1), faulty, true},
		{int32(2), 0, false}, {"maybe", 0, false}, {1.5, 0, false},
	}
	for _, tc := range cases {
		got, err := parseVote(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseVote(%#v) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestRunIsDeterministic(t *testing.T) {
	var first [][]byte
	for run := range 3 {
		dir := t.TempDir()
		if _, err := Run(context.Background(), only(FnRollback, FnShortLived, FnIncident, FnHealthy, FnLatency, FnNewSignatures),
			Input{History: fleetHistory(), Workdir: dir}); err != nil {
			t.Fatal(err)
		}
		var files [][]byte
		for _, name := range []string{LabelsFile, ReportFile} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		if run == 0 {
			first = files
			continue
		}
		for i := range files {
			if !slices.Equal(files[i], first[i]) {
				t.Fatalf("run %d: output %d differs from run 0", run, i)
			}
		}
	}
}
