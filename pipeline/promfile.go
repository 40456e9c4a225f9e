package pipeline

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// WritePromFile writes the run's metrics in the Prometheus text exposition
// format to path (atomically), for node_exporter's textfile collector:
//
//	faultline_run_success            1 when the run succeeded
//	faultline_run_duration_seconds   wall time of the run
//	faultline_run_timestamp_seconds  when the run finished
//	faultline_stage_duration_seconds{stage}
//	faultline_stage_success{stage}
//	faultline_stage_rows{stage,table}
//	faultline_stage_metric{stage,metric}  e.g. model and label metrics
func WritePromFile(path string, r *Record) error {
	var b bytes.Buffer
	ok := 0
	if r.Status == StatusSucceeded {
		ok = 1
	}
	end := r.FinishedAt
	help := func(name, typ, text string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	help("faultline_run_success", "gauge", "1 when the last faultline run succeeded, 0 otherwise.")
	fmt.Fprintf(&b, "faultline_run_success{run_id=%q} %d\n", r.ID, ok)
	help("faultline_run_duration_seconds", "gauge", "Wall time of the last faultline run.")
	fmt.Fprintf(&b, "faultline_run_duration_seconds %g\n", r.Duration().Seconds())
	if !end.IsZero() {
		help("faultline_run_timestamp_seconds", "gauge", "Unix time at which the last faultline run finished.")
		fmt.Fprintf(&b, "faultline_run_timestamp_seconds %d\n", end.Unix())
	}
	help("faultline_stage_duration_seconds", "gauge", "Wall time of each stage of the last run.")
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "faultline_stage_duration_seconds{stage=%q} %g\n", s.Name, s.Seconds)
	}
	help("faultline_stage_success", "gauge", "1 when the stage succeeded, was reused or skipped in the last run.")
	for _, s := range r.Stages {
		v := 0
		if s.Status == StatusSucceeded || s.Status == StatusReused || s.Status == StatusSkipped {
			v = 1
		}
		fmt.Fprintf(&b, "faultline_stage_success{stage=%q} %d\n", s.Name, v)
	}
	help("faultline_stage_rows", "gauge", "Rows each stage read or wrote, by table.")
	for _, s := range r.Stages {
		for _, k := range slices.Sorted(maps.Keys(s.Rows)) {
			fmt.Fprintf(&b, "faultline_stage_rows{stage=%q,table=%q} %d\n", s.Name, k, s.Rows[k])
		}
	}
	help("faultline_stage_metric", "gauge", "Model, label and evaluation metrics reported by each stage.")
	for _, s := range r.Stages {
		for _, k := range slices.Sorted(maps.Keys(s.Metrics)) {
			fmt.Fprintf(&b, "faultline_stage_metric{stage=%q,metric=%q} %g\n", s.Name, sanitizeLabel(k), s.Metrics[k])
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	return nil
}

var labelRe = regexp.MustCompile(`[^a-zA-Z0-9_:.\-/]`)

func sanitizeLabel(s string) string { return labelRe.ReplaceAllString(s, "_") }
