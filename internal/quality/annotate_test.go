package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/train"
)

// loopVerdicts labels annotate.csv's rows in file order from the truth, a
// verdict wrong about one time in twenty, the same for the same seed.
func TestLoopVerdicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), workdir.AnnotateFile)
	var b bytes.Buffer
	b.WriteString("deployment_id,label,annotator,annotated_at,note,service,environment,version,started_at,p_10\n")
	truth := map[string]history.Truth{}
	const n = 2000
	for i := range n {
		id := fmt.Sprintf("d%04d", i)
		fmt.Fprintf(&b, "%s,,,,,svc,prod,v%d,2026-01-01T00:00:00Z,0.5\n", id, i)
		truth[id] = history.Truth{DeploymentID: id, Faulty: i%3 == 0}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	anns, faulty, err := loopVerdicts(path, n, truth, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrong, labelledFaulty := 0, 0
	for i, a := range anns {
		if want := fmt.Sprintf("d%04d", i); a.DeploymentID != want || a.Annotator != Annotator {
			t.Fatalf("row %d: %+v, want %s by %s", i, a, want, Annotator)
		}
		if (a.Label == history.LabelFaulty) != truth[a.DeploymentID].Faulty {
			wrong++
		}
		if a.Label == history.LabelFaulty {
			labelledFaulty++
		}
	}
	if len(anns) != n || faulty != labelledFaulty {
		t.Errorf("%d verdicts, %d faulty counted (%d labelled)", len(anns), faulty, labelledFaulty)
	}
	if share := float64(wrong) / n; share < 0.03 || share > 0.07 {
		t.Errorf("%d of %d verdicts wrong (%.3f), want about %g", wrong, n, share, AnnotationNoise)
	}
	again, _, err := loopVerdicts(path, 10, truth, 1)
	if err != nil || len(again) != 10 {
		t.Fatalf("first 10: %d, %v", len(again), err)
	}
	for i := range again {
		if again[i] != anns[i] {
			t.Errorf("row %d: %+v, then %+v with the same seed", i, anns[i], again[i])
		}
	}
	other, _, _ := loopVerdicts(path, n, truth, 2)
	same := 0
	for i := range other {
		if other[i].Label == anns[i].Label {
			same++
		}
	}
	if same == n {
		t.Error("seeds 1 and 2 gave the same verdicts")
	}
	delete(truth, "d0003")
	if _, _, err := loopVerdicts(path, n, truth, 1); err == nil || !strings.Contains(err.Error(), "d0003") || !strings.Contains(err.Error(), path) {
		t.Errorf("a deployment without truth: %v, want an error naming it and the file", err)
	}
}

// TestAnnotationLoop runs the loop on a small aggregate fleet: the verdicts
// reach the store, the second run trains on them, and the Markdown shows
// the before and after.
func TestAnnotationLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline twice")
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{
		Regimes: []string{"aggregate-bigbang"}, Seeds: []int64{1}, Services: 20, Days: 10,
		Workdir: dir, Keep: true, Floors: SmokeFloors, Annotate: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Fleets[0]
	if f.Error != "" {
		t.Fatalf("fleet failed: %s", f.Error)
	}
	a := f.Annotated
	if a == nil || a.Rows == 0 || a.Rows > 10 || a.Faulty > a.Rows || len(a.Scores) != 2 {
		t.Fatalf("annotated %+v", a)
	}
	if s0, s1 := f.Scores[ScopeAll], a.Scores[ScopeAll]; s0.Deployments != s1.Deployments || s1.Deployments == 0 {
		t.Errorf("scored %d deploys before and %d after", s0.Deployments, s1.Deployments)
	}
	home := filepath.Join(dir, "aggregate-bigbang-s1")
	if loop := annotationsBy(t, home, Annotator); loop != a.Rows {
		t.Errorf("%d of the loop's annotations in the store, want %d", loop, a.Rows)
	}
	// The second run (the newest) trained on them: they are validation
	// deploys.
	info := secondRunTrain(t, home)
	if info.Annotated[workdir.SplitValid] < a.Rows {
		t.Errorf("second run took %v annotations as targets, want at least the loop's %d on validation", info.Annotated, a.Rows)
	}
	md := string(res.Markdown())
	if !strings.Contains(md, "## After the annotation loop") || !strings.Contains(md, "--annotate 10`\n(`make quality-loop`") {
		t.Error("the Markdown lacks the annotation loop's table or its command")
	}
}

func TestTruthLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline twice")
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Workdir: dir, Annotate: 5, TruthLabels: true}); err == nil {
		t.Fatal("the annotation loop and the truth as labels were accepted together")
	}
	res, err := Run(context.Background(), Options{
		Regimes: []string{"baseline-mixed"}, Seeds: []int64{1}, Services: 20, Days: 10,
		Workdir: dir, Keep: true, Floors: SmokeFloors, TruthLabels: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Fleets[0]
	if f.Error != "" {
		t.Fatalf("fleet failed: %s", f.Error)
	}
	a := f.TruthLabels
	if a == nil || int64(a.Rows) != f.Deployments || int64(a.Faulty) != f.Faulty || len(a.Scores) != 2 {
		t.Fatalf("truth labels %+v, fleet of %d deploys (%d faulty)", a, f.Deployments, f.Faulty)
	}
	// The version scored is the one the second run registered, whatever
	// the gate said.
	if a.Production != "faultline@2" || a.Decision == "" {
		t.Errorf("scored %q (decision %q), want faultline@2 and the gate's decision", a.Production, a.Decision)
	}
	if s0, s1 := f.Scores[ScopeAll], a.Scores[ScopeAll]; int64(s1.Deployments) != f.Deployments || s1.Recall.N != s0.Recall.N {
		t.Errorf("scored %d deploys (%d faulty), want %d (%d)", s1.Deployments, s1.Recall.N, f.Deployments, s0.Recall.N)
	}
	home := filepath.Join(dir, "baseline-mixed-s1")
	if truth := annotationsBy(t, home, TruthAnnotator); truth != a.Rows {
		t.Errorf("%d truth annotations in the store, want %d", truth, a.Rows)
	}
	// The second run trained on them: every training and validation
	// deploy it kept has one.
	info := secondRunTrain(t, home)
	if info.Annotated[workdir.SplitTrain] == 0 || info.Annotated[workdir.SplitValid] == 0 {
		t.Errorf("second run took %v annotations as targets, want some on train and validation", info.Annotated)
	}
	md := string(res.Markdown())
	if !strings.Contains(md, "## With the truth as labels") || !strings.Contains(md, "--truth-labels`\n(`make quality-truth`") ||
		!strings.Contains(md, "| `baseline-mixed` | 1 | faultline@2 |") {
		t.Error("the Markdown lacks the truth-labels table, its row or its command")
	}
}

// annotationsBy counts the annotations of the fleet's store at home that
// annotator wrote.
func annotationsBy(t *testing.T, home, annotator string) int {
	t.Helper()
	st, err := embedded.Open(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	anns, err := st.Annotations(context.Background())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range anns {
		if x.Annotator == annotator {
			n++
		}
	}
	return n
}

// secondRunTrain reads the weak models' train.json of the second (newest)
// of the fleet's two runs.
func secondRunTrain(t *testing.T, home string) workdir.Train {
	t.Helper()
	runs, err := filepath.Glob(filepath.Join(home, "runs", "*", workdir.ModelDir(train.LabelsWeak), workdir.TrainFile))
	if err != nil || len(runs) != 2 {
		t.Fatalf("train.json of %d runs (%v), want 2", len(runs), err)
	}
	var info workdir.Train
	data, err := os.ReadFile(runs[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	return info
}
