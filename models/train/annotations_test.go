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

// TestRunWritesAnnotate: annotate.csv lists the validation deployments no
// labeling function voted on and nobody annotated, the models' most
// likely faulty first, in the annotations.csv import format; an annotated
// one leaves the list.
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
	quiet := map[string]bool{} // validation deployments on which every function abstained
	for i, id := range l.IDs {
		if l.Label[i] == -1 && splitOf[id] == workdir.SplitValid {
			quiet[id] = true
		}
	}
	recs := read()
	if want := []string{"deployment_id", "label", "annotator", "annotated_at", "note", "service", "environment", "version", "started_at", "p_10", "p_20", "p_60"}; !slices.Equal(recs[0], want) {
		t.Fatalf("header %v, want %v", recs[0], want)
	}
	rows := recs[1:]
	if len(quiet) < 3 || len(rows) != min(len(quiet), AnnotateRows) || info.ToAnnotate != len(rows) {
		t.Fatalf("%d rows (to_annotate %d) for %d quiet validation deployments", len(rows), info.ToAnnotate, len(quiet))
	}
	top := func(r []string) float64 {
		m := math.Inf(-1)
		for _, s := range r[9:] {
			if p, err := strconv.ParseFloat(s, 64); err == nil {
				m = math.Max(m, p)
			}
		}
		return m
	}
	for i, r := range rows {
		if !quiet[r[0]] || r[1] != "" || r[5] == "" {
			t.Errorf("row %d: %v: want a quiet validation deployment with its service and no label", i+1, r)
		}
		if i > 0 && top(r) > top(rows[i-1]) {
			t.Errorf("row %d ranks above row %d: %v > %v", i+1, i, top(r), top(rows[i-1]))
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
