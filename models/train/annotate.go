package train

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// AnnotateRows is the most rows annotate.csv holds.
const AnnotateRows = 50

// writeAnnotate writes annotate.csv at path: validation deployments of
// valid nobody annotated, of two kinds alternating — no labeling function
// voted (src.abstained) and labelled faulty on one function's vote alone
// (src.lone) — each kind the models' most likely faulty first (by their
// highest probability over the looks), at most AnnotateRows, in the
// annotations.csv import format followed by evidence columns: service,
// environment, version, started_at, weak_label (which kind) and p_H per
// horizon. It returns the number of rows.
//
// Why these. The threshold choice counts an unvoted deployment at the
// label model's estimate for all of them together (a few percent faulty),
// so a flag on it is almost a whole false alarm however high it ranks:
// where the labeling functions rarely vote (aggregate metrics, few
// reactions) a few of them at the top of the ranking hold the whole policy
// back. It counts a lone vote at the label model's trust in the function,
// earned where others agree with it and least sure where it votes alone
// (lone reactions: p_faulty 0.8–0.99, right 0.4–0.7 of the time on the
// simulated fleets). Annotated, each counts as what it is in the next
// run's training and choice (Config.Annotations).
func writeAnnotate(path string, deploys map[string]workdir.DeployRow, valid *validation, src labelSources, horizons []int) (int, error) {
	type row struct {
		id     string
		top    float64
		prob   []float64
		reason string
	}
	var quiet, lone []row
	for i, id := range valid.ids {
		fn, isLone := src.lone[id]
		if !src.abstained[id] && !isLone {
			continue
		}
		top := math.Inf(-1)
		for _, p := range valid.probs[i] {
			if p > top {
				top = p
			}
		}
		if math.IsInf(top, -1) {
			continue // no look scored
		}
		if isLone {
			lone = append(lone, row{id, top, valid.probs[i], "one vote: " + fn})
		} else {
			quiet = append(quiet, row{id, top, valid.probs[i], "no vote"})
		}
	}
	for _, rs := range [][]row{quiet, lone} {
		sort.SliceStable(rs, func(a, b int) bool { return rs[a].top > rs[b].top })
	}
	// Alternate the two kinds, each the models' most likely faulty first.
	var rows []row
	for i := 0; len(rows) < AnnotateRows && (i < len(quiet) || i < len(lone)); i++ {
		for _, rs := range [][]row{quiet, lone} {
			if i < len(rs) && len(rows) < AnnotateRows {
				rows = append(rows, rs[i])
			}
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append([]string{}, history.AnnotationCSVColumns...)
	header = append(header, "service", "environment", "version", "started_at", "weak_label")
	for _, h := range horizons {
		header = append(header, fmt.Sprintf("p_%d", h))
	}
	if err := w.Write(header); err != nil {
		return 0, err
	}
	for _, r := range rows {
		d := deploys[r.id]
		rec := []string{r.id, "", "", "", "", d.Service, d.Environment, d.Version, d.StartedAt.UTC().Format(time.RFC3339), r.reason}
		for _, p := range r.prob {
			s := ""
			if !math.IsNaN(p) {
				s = strconv.FormatFloat(p, 'f', 4, 64)
			}
			rec = append(rec, s)
		}
		if err := w.Write(rec); err != nil {
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("train: write %s: %w", path, err)
	}
	return len(rows), nil
}
