package train

import (
	"bytes"
	"context"
	"encoding/csv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// runAndRead trains on dir with fixtureConfig and returns train.json, the
// split and the labels.
func runAndRead(t *testing.T, dir string) (*workdir.Train, map[string]string, *workdir.Labels) {
	t.Helper()
	info, err := Run(context.Background(), fixtureConfig(), RunOptions{Workdir: dir, Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	splitOf, err := workdir.ReadSplit(filepath.Join(dir, workdir.SplitFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := workdir.ReadLabels(filepath.Join(dir, workdir.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	return info, splitOf, l
}

// TestRunTakesAnnotations: with train.annotations "use", an annotated
// deployment of the training or validation split trains, and counts in the
// threshold choice, as its annotation says — also one on which every
// labeling function abstained — and the held-out split's annotations are
// left to the evaluation; "ignore" trains on the weak labels alone.
func TestRunTakesAnnotations(t *testing.T) {
	// The split of writeFixture's deployments, from a first run.
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	_, splitOf, l := runAndRead(t, dir)
	// Annotate as faulty up to n deployments of each split that the weak
	// labels call healthy (p_faulty 0.1) or leave unlabelled (every
	// function abstained, p_faulty 0.2).
	n := map[string]int{workdir.SplitTrain: 12, workdir.SplitValid: 15, workdir.SplitTest: 9}
	got := map[string]int{}
	for i, id := range l.IDs {
		if s := splitOf[id]; l.PFaulty[i] < 0.5 && got[s] < n[s] {
			l.Gold[i] = 1
			got[s]++
		}
	}
	if !maps.Equal(got, n) {
		t.Fatalf("annotated %v, want %v", got, n)
	}
	if err := workdir.WriteLabels(filepath.Join(dir, workdir.LabelsFile), l); err != nil {
		t.Fatal(err)
	}
	positives := map[string]map[string]int{}
	validPositives := map[string]int{}
	for _, mode := range []string{AnnotationsIgnore, AnnotationsUse} {
		cfg := fixtureConfig()
		cfg.Annotations = mode
		info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: fixtureNow})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int(nil)
		if mode == AnnotationsUse {
			want = map[string]int{workdir.SplitTrain: 12, workdir.SplitValid: 15}
		}
		if !maps.Equal(info.Annotated, want) {
			t.Errorf("%s: annotations_used %v, want %v", mode, info.Annotated, want)
		}
		positives[mode] = info.Horizons[0].Positives // the 10-minute look has a row for every deployment
		validPositives[mode] = info.PolicyValid.Positives
	}
	// Each annotated deployment of the two splits became a positive.
	for s, k := range map[string]int{workdir.SplitTrain: 12, workdir.SplitValid: 15} {
		if d := positives[AnnotationsUse][s] - positives[AnnotationsIgnore][s]; d != k {
			t.Errorf("%s split: %d more positives with the annotations, want %d", s, d, k)
		}
	}
	// The validation split's annotations are the choice's targets, so what
	// train.json measures the policy on (policy_valid) counts them too.
	if d := validPositives[AnnotationsUse] - validPositives[AnnotationsIgnore]; d != 15 {
		t.Errorf("policy_valid: %d more faulty deployments with the annotations, want 15", d)
	}
	// ScoreSplit's labels are the weak labels: the test split's annotations
	// do not reach them.
	s, err := ScoreSplit(context.Background(), dir, LabelsWeak, workdir.SplitTest)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range s.IDs {
		if y := s.Labels[i]; y == 1 {
			t.Errorf("test deployment %s: label 1 in ScoreSplit, whose labels are the weak labels alone", id)
		}
	}
}

// TestRunWritesAnnotate: annotate.csv lists, in the annotations.csv
// import format, the validation deployments nobody annotated that no
// labeling function voted on, alternating with those labelled faulty on one
// function's vote alone, each kind the models' most likely faulty first; an
// annotated one leaves the list.
func TestRunWritesAnnotate(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, 1500)
	read := func() [][]string {
		t.Helper()
		f, err := os.ReadFile(filepath.Join(dir, workdir.ModelDir(LabelsWeak), workdir.AnnotateFile))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	info, splitOf, l := runAndRead(t, dir)
	// writeFixture has one function, a: a validation deployment it did not
	// vote on is quiet, one it alone labelled faulty is lone.
	kind := map[string]string{}
	for i, id := range l.IDs {
		switch {
		case splitOf[id] != workdir.SplitValid:
		case l.Label[i] == -1:
			kind[id] = "no vote"
		case l.Label[i] == 1:
			kind[id] = "one vote: a"
		}
	}
	recs := read()
	if want := []string{"deployment_id", "label", "annotator", "annotated_at", "note", "service", "environment", "version", "started_at", "weak_label", "p_10", "p_20", "p_60"}; !slices.Equal(recs[0], want) {
		t.Fatalf("header %v, want %v", recs[0], want)
	}
	rows := recs[1:]
	if len(rows) != AnnotateRows || info.ToAnnotate != len(rows) {
		t.Fatalf("%d rows (to_annotate %d), want %d", len(rows), info.ToAnnotate, AnnotateRows)
	}
	top := func(r []string) float64 {
		m := math.Inf(-1)
		for _, s := range r[10:] {
			if p, err := strconv.ParseFloat(s, 64); err == nil {
				m = math.Max(m, p)
			}
		}
		return m
	}
	last := map[string]float64{}
	quiet := 0
	for i, r := range rows {
		if k := kind[r[0]]; k == "" || r[9] != k || r[1] != "" || r[5] == "" {
			t.Errorf("row %d: %v: want a quiet or lone validation deployment (%q), its service and no label", i+1, r, k)
		}
		if p, seen := last[r[9]]; seen && top(r) > p {
			t.Errorf("row %d ranks above the previous %q row: %v > %v", i+1, r[9], top(r), p)
		}
		last[r[9]] = top(r)
		if r[9] == "no vote" {
			quiet++
		}
	}
	// The kinds alternate until the fewer runs out.
	nQuiet := 0
	for _, k := range kind {
		if k == "no vote" {
			nQuiet++
		}
	}
	if want := min(nQuiet, AnnotateRows/2); nQuiet == 0 || quiet != want {
		t.Errorf("%d quiet rows of %d, want %d (of %d quiet validation deployments)", quiet, len(rows), want, nQuiet)
	}
	for i := 0; i < 2*quiet; i++ {
		if want := []string{"no vote", "one vote: a"}[i%2]; rows[i][9] != want {
			t.Errorf("row %d is %q, want %q: the kinds alternate", i+1, rows[i][9], want)
		}
	}
	// Annotate the first: it leaves the list.
	first := rows[0][0]
	l.Gold[slices.Index(l.IDs, first)] = 0
	if err := workdir.WriteLabels(filepath.Join(dir, workdir.LabelsFile), l); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), fixtureConfig(), RunOptions{Workdir: dir, Now: fixtureNow}); err != nil {
		t.Fatal(err)
	}
	for _, r := range read()[1:] {
		if r[0] == first {
			t.Errorf("%s is still listed after it was annotated", first)
		}
	}
}

// TestLoneRevision: where the training and validation splits' annotations
// of one function's lone faulty votes contradict the label model's trust
// in them, its unannotated lone votes take the nearer end of the
// annotated share's interval; another function's lone votes, the
// annotated ones and the held-out split's annotations are left as they
// were; with annotations ignored nothing is revised.
func TestLoneRevision(t *testing.T) {
	dir := t.TempDir()
	// Rows 0–19: rollback alone, p_faulty 0.94, rows 0–9 annotated (3
	// faulty); rows 20–24 annotated in the test split, all faulty (not
	// counted); rows 25–29: incident alone, p_faulty 0.88, unannotated.
	l := &workdir.Labels{Functions: []string{"rollback", "incident"}}
	var test = map[string]bool{}
	for i := range 30 {
		id := "d" + strconv.Itoa(i)
		l.IDs = append(l.IDs, id)
		rb, inc, p, gold := int8(1), int8(-1), 0.94, workdir.GoldNone
		if i >= 25 {
			rb, inc, p = -1, 1, 0.88
		}
		switch {
		case i < 10:
			gold = 0
			if i < 3 {
				gold = 1
			}
		case i >= 20 && i < 25:
			gold, test[id] = 1, true
		}
		if len(l.Votes) == 0 {
			l.Votes = [][]int8{nil, nil}
		}
		l.Votes[0], l.Votes[1] = append(l.Votes[0], rb), append(l.Votes[1], inc)
		l.PFaulty, l.Label, l.Gold = append(l.PFaulty, p), append(l.Label, 1), append(l.Gold, gold)
	}
	if err := workdir.WriteLabels(filepath.Join(dir, workdir.LabelsFile), l); err != nil {
		t.Fatal(err)
	}
	annotated := func(id string) bool { return !test[id] }
	labels, src, err := readLabels(dir, LabelsWeak, 60, true, annotated)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := workdir.LoneRevision(0.94, 3, 10) // the Wilson interval's upper end of 3/10, 0.61
	if r, ok := src.revised["rollback"]; !ok || r.Annotated != 10 || r.AnnotatedFaulty != 3 || r.Deployments != 25 || math.Abs(r.Target-want) > 1e-12 || !(want < 0.7) {
		t.Fatalf("revision of rollback %+v (present %v), want 10 annotated, 3 faulty, 25 lone votes, target %v", r, ok, want)
	}
	if _, ok := src.revised["incident"]; ok {
		t.Error("incident's lone votes were revised without annotations")
	}
	for i, id := range l.IDs {
		var w float64
		switch {
		case i < 10:
			w = float64(l.Gold[i])
		case i < 25:
			w = want // test-split rows too: their targets are never trained on
		default:
			w = 0.88
		}
		if math.Abs(labels[id]-w) > 1e-12 {
			t.Errorf("target of %s = %v, want %v", id, labels[id], w)
		}
	}
	labels, src, err = readLabels(dir, LabelsWeak, 60, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.revised) != 0 || labels["d15"] != 0.94 {
		t.Errorf("with annotations ignored: revised %v, d15's target %v, want none and 0.94", src.revised, labels["d15"])
	}
}
