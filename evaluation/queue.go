package evaluation

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
)

// QueueImportColumns are the annotations.csv columns (docs/evaluation.md):
// the reviewer fills label (faulty or healthy) and annotator.
var QueueImportColumns = history.AnnotationCSVColumns

// QueueEvidenceColumns follow the import columns; `faultline import
// --ignore-unknown-columns` skips them.
var QueueEvidenceColumns = []string{
	"service", "environment", "version", "started_at", "disagreement",
	"verdict_baseline", "verdict_ensemble", "verdict_weak", "verdict_production",
	"model_horizon", "p_model", "threshold", "p_faulty", "weak_label",
	"requests_after", "error_rate_before", "error_rate_after", "excess_errors",
	"uncertainty", "priority",
}

// QueueRows returns up to n disagreement deploys without a gold label, most
// worth a human look first.
func (rep *Report) QueueRows(n int) []*Candidate {
	if n > len(rep.candidates) {
		n = len(rep.candidates)
	}
	return rep.candidates[:n]
}

// WriteQueue writes the annotation queue (cfg.QueueSize rows) to path as
// CSV in the annotations.csv import format plus evidence columns; label,
// annotator, annotated_at and note are left empty for the reviewer. Call it
// before Write for metrics.json and the summary to mention the queue.
func (rep *Report) WriteQueue(path string) (int, error) {
	rows := rep.QueueRows(rep.cfg.QueueSize)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append(append([]string{}, QueueImportColumns...), QueueEvidenceColumns...)
	if err := w.Write(header); err != nil {
		return 0, err
	}
	for _, c := range rows {
		rec := []string{
			c.Deploy.DeploymentID, "", "", "", "",
			c.Deploy.Service, c.Deploy.Environment, c.Deploy.Version, c.Deploy.StartedAt.UTC().Format(time.RFC3339),
			strings.Join(c.Pairs, " "),
			c.Verdicts[ContenderBaseline], c.Verdicts[ContenderEnsemble], c.Verdicts[ContenderWeak], c.Verdicts[ContenderProduction],
			intOrEmpty(c.ModelHorizon, c.Model != ""), fmtF(c.PModel, 4), fmtF(c.Threshold, 4), fmtF(c.PFaulty, 4), weakWord(c.WeakLabel),
			strconv.FormatFloat(c.RequestsAfter, 'f', -1, 64), fmtF(c.RateBefore, 5), fmtF(c.RateAfter, 5), fmtF(c.ExcessErrors, 1),
			fmtF(c.Uncertainty, 3), fmtF(c.Priority, 3),
		}
		if err := w.Write(rec); err != nil {
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("write queue: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("write queue: %w", err)
	}
	rep.Queue = &QueueInfo{Path: path, Rows: len(rows), Candidates: len(rep.candidates)}
	return len(rows), nil
}

func intOrEmpty(v int, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.Itoa(v)
}

func weakWord(l int) string {
	switch l {
	case 1:
		return "faulty"
	case 0:
		return "healthy"
	default:
		return "abstain"
	}
}

// fmtF formats x with prec decimals; empty for NaN.
func fmtF(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}
