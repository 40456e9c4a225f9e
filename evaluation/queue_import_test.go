package evaluation

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/history/importer"
)

// reviewQueue plays the reviewer: it reads the queue, labels the first
// `judge` rows (faulty, then healthy, alternately), blanks or keeps the
// rest, and writes annotations.csv alone into a new folder that it returns.
func reviewQueue(t *testing.T, queue string, judge int, keepUnjudged bool) (string, map[string]string) {
	t.Helper()
	f, err := os.Open(queue)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) <= judge {
		t.Fatalf("queue has %d rows, want more than %d", len(recs)-1, judge)
	}
	want := map[string]string{}
	out := [][]string{recs[0]}
	for i, r := range recs[1:] {
		if i < judge {
			r[1] = []string{history.LabelFaulty, history.LabelHealthy}[i%2]
			r[2] = "reviewer"
			r[4] = "looked at the sparkline"
			want[r[0]] = r[1]
		} else if !keepUnjudged {
			continue
		}
		out = append(out, r)
	}
	dir := t.TempDir()
	af, err := os.Create(filepath.Join(dir, "annotations.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(af)
	if err := w.WriteAll(out); err != nil {
		t.Fatal(err)
	}
	af.Close()
	return dir, want
}

// TestQueueImportsBack checks the annotation loop end to end against the
// real importer and the embedded store: a reviewed queue file imports with
// --ignore-unknown-columns and its verdicts become annotations; a row left
// without a label rejects the whole import with a problem naming its line.
func TestQueueImportsBack(t *testing.T) {
	ctx := context.Background()
	rep, dir := runFixture(t, false)
	queue := filepath.Join(dir, "queue.csv")
	n, err := rep.WriteQueue(queue)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("queue of %d rows; the fixture should give at least 3", n)
	}
	st := embeddedtest.Open(t)
	tx, err := st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deps []history.Deployment
	for i := 0; i < fixtureN; i++ {
		deps = append(deps, history.Deployment{ID: fxID(i), Service: fxService(i), Environment: "prod-us1", Version: "v" + fxID(i), StartedAt: fxStarted(i), Kind: history.KindDeploy, FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1})
	}
	if err := tx.AddDeployments(ctx, deps); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// An unlabeled row left in the file: nothing is imported.
	bad, _ := reviewQueue(t, queue, 2, true)
	tx, err = st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = importer.Import(ctx, bad, tx, importer.Options{IgnoreUnknownColumns: true, HistoryExists: true})
	var ve *importer.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "annotations.csv:4: label") {
		t.Fatalf("import with an empty label: %v; want a validation error at annotations.csv:4: label", err)
	}
	if anns, _ := st.Annotations(ctx); len(anns) != 0 {
		t.Fatalf("%d annotations after a rejected import", len(anns))
	}

	// Unjudged rows deleted: the verdicts come back as annotations.
	good, want := reviewQueue(t, queue, 2, false)
	tx, err = st.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Import(ctx, good, tx, importer.Options{IgnoreUnknownColumns: true, HistoryExists: true})
	if err != nil {
		t.Fatalf("import reviewed queue: %v", err)
	}
	if sum.Annotations != int64(len(want)) {
		t.Errorf("imported %d annotations, want %d", sum.Annotations, len(want))
	}
	anns, err := st.Annotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range anns {
		if a.Annotator != "reviewer" || a.Note != "looked at the sparkline" {
			t.Errorf("annotation %+v lost its annotator or note", a)
		}
		got[a.DeploymentID] = a.Label
	}
	if len(got) != len(want) {
		t.Fatalf("annotations %v, want %v", got, want)
	}
	for id, l := range want {
		if got[id] != l {
			t.Errorf("deploy %s: annotation %q, want %q", id, got[id], l)
		}
	}
	// Evaluated again with these annotations, the reviewed deploys leave the queue.
	rep2, err := Run(ctx, Options{Workdir: dir, Config: DefaultConfig(), History: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep2.QueueRows(100) {
		if _, ok := want[c.Deploy.DeploymentID]; ok {
			t.Errorf("annotated deploy %s still queued", c.Deploy.DeploymentID)
		}
	}
	if g, _ := rep2.Reference(RefGold); g.Deploys != len(want) {
		t.Errorf("gold reference labels %d deploys, want %d", g.Deploys, len(want))
	}
}
