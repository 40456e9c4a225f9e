package workdir

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// LFReport is the part of lf_report.json that other stages read. The label
// stage writes the whole report (labeling.Report, through WriteLFReport);
// the field names here are that type's, and a test of package labeling
// checks that a report it writes reads back through ReadLFReport.
type LFReport struct {
	Schema   string `json:"schema"`
	Rows     int    `json:"rows"`
	Labelled int    `json:"labelled"`
	Faulty   int    `json:"faulty"`
	// ClassBalance is the label model's estimate of the share of faulty deployments.
	ClassBalance metrics.Float `json:"class_balance"`
	// Model is the label model's fit, as written.
	Model     json.RawMessage `json:"model"`
	Functions []LFFunction    `json:"functions"`
}

// LFFunction is what other stages read of one labeling function's
// diagnostics: coverage, overlap and conflict are shares of the labelled
// rows; Estimated is the label model's view, Empirical the measure against
// annotations (nil without annotated deployments it voted on).
type LFFunction struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Coverage  metrics.Float `json:"coverage"`
	Overlap   metrics.Float `json:"overlap"`
	Conflict  metrics.Float `json:"conflict"`
	Estimated struct {
		Accuracy metrics.Float `json:"accuracy"`
	} `json:"estimated"`
	Empirical *struct {
		Accuracy metrics.Float `json:"accuracy"`
	} `json:"empirical"`
	// Lone is the function's faulty votes cast alone (labeling.LoneVotes;
	// nil when none, or in a report written before it was kept).
	Lone *LFLone `json:"lone"`
}

// LFLone is labeling.LoneVotes as other stages read it.
type LFLone struct {
	Deployments     int           `json:"deployments"`
	PFaulty         metrics.Float `json:"p_faulty"`
	Annotated       int           `json:"annotated"`
	AnnotatedFaulty int           `json:"annotated_faulty"`
}

// UnmarshalJSON implements json.Unmarshaler: absent numbers read as NaN.
func (f *LFFunction) UnmarshalJSON(b []byte) error {
	type plain LFFunction
	nan := metrics.Float(math.NaN())
	p := plain{Coverage: nan, Overlap: nan, Conflict: nan}
	p.Estimated.Accuracy = nan
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = LFFunction(p)
	return nil
}

// WriteLFReport writes lf_report.json at path, atomically: report (the
// label stage's labeling.Report) as JSON indented by two spaces.
func WriteLFReport(path string, report any) error {
	return writeJSON(path, report)
}

// ReadLFReport reads lf_report.json at path (ParseLFReport). A missing
// file gives an error wrapping fs.ErrNotExist.
func ReadLFReport(path string) (*LFReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseLFReport(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseLFReport decodes the contents of an lf_report.json, for readers that
// keep or hash the bytes; the caller names the file in errors. Absent
// numbers read as NaN.
func ParseLFReport(data []byte) (*LFReport, error) {
	r := LFReport{ClassBalance: metrics.Float(math.NaN())}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
