package workdir

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/policy"
)

func TestExtract(t *testing.T) {
	path := filepath.Join(t.TempDir(), ExtractFile)
	e := &Extract{SchemaVersion: "v3", SchemaHash: "h", ConfigHash: "c", Features: 70, Deployments: 4, Streams: 2,
		Horizons: []HorizonCount{{Horizon: 10, File: FeaturesFile(10), Rows: 4, Skipped: 1}},
		Files:    []string{DeploysFile, FeaturesFile(10), ExtractFile}}
	if err := WriteExtract(path, e); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.MarshalIndent(e, "", "  "); string(b) != string(want)+"\n" {
		t.Errorf("wrote\n%s\nwant indented JSON\n%s", b, want)
	}
	got, err := ReadExtract(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("read %+v, want %+v", got, e)
	}
	tests := []struct {
		name, data string
		want       []string
	}{
		{"truncated", `{"schema_version":`, []string{"unexpected end"}},
		{"no schema", `{"schema_hash":"h","horizons":[]}`, []string{"no schema_version"}},
		{"wrong type", `{"schema_version":"v","deployments":"many"}`, []string{"deployments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeText(t, ExtractFile, tt.data)
			_, err := ReadExtract(p)
			wantErr(t, err, append(tt.want, p)...)
			if _, err := ParseExtract([]byte(tt.data)); err == nil {
				t.Error("ParseExtract accepted it")
			}
		})
	}
	if _, err := ReadExtract(filepath.Join(t.TempDir(), ExtractFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func testTrain() *Train {
	nan := metrics.Float(math.NaN())
	_, cal := policy.FitCalibration([]float64{0.1, 0.4, 0.35, 0.8, 0.2}, []float64{0, 0, 1, 1, 0}, 4)
	tr := &Train{
		LabelSource: "weak", SchemaVersion: "v3", SchemaHash: "h", TrainedAt: "2026-01-02T03:04:05Z",
		Params: json.RawMessage(`{"num_trees":300}`), Config: json.RawMessage(`{"horizons":[10,60]}`),
		Split: SplitInfo{Counts: map[string]int{SplitTrain: 7, SplitValid: 2, SplitTest: 1}, TrainFraction: 0.7, ValidFraction: 0.15},
		Horizons: []HorizonInfo{
			{Horizon: 10, ModelFile: ModelFile(10), Features: []string{"a"}, Rows: map[string]int{SplitTrain: 7}, ValidAUC: 0.75, ValidLogLoss: nan, LogRegValidAUC: nan,
				Threshold: policy.ThresholdChoice{Threshold: 0.9, Precision: nan, Recall: 0.5, Target: 0.9}},
			{Horizon: 60, ModelFile: ModelFile(60), Features: []string{"a", "b"}, ValidAUC: nan, ValidLogLoss: nan, LogRegValidAUC: nan,
				Threshold: policy.ThresholdChoice{Threshold: 0.5, Precision: nan, Recall: nan, Target: 0.7}},
		},
		Policy: policy.Policy{Horizons: []int{10, 60}, Thresholds: []float64{0.9, 0.5}, Calibration: []policy.Platt{{A: 0.9, B: -2}, {A: 1.2, B: -1}}},
		Choice: &policy.Choice{Target: policy.Target{Precision: 0.95}, Objective: policy.Objective, MinFlagged: 3, Thresholds: []float64{0.9, 0.5},
			Verdict: policy.Undecided, Fallback: policy.FallbackMaxPrecision, Precision: policy.NewRate(4, 4), FalseAlarmsPerHealthy: policy.NewRate(0, 0),
			Recall: policy.NewRate(4, 6), MeanTimeToDetection: nan, Candidates: []int{3, 2}, Searched: 12},
		PolicyValid: policy.Report{Precision: nan, Recall: nan, MeanTimeToDetection: nan, MedianTimeToDetection: nan,
			PerDeployFalseAlarmRate: nan, PerLookFalseAlarmRate: nan, LooksPerHealthyDeploy: nan},
		Inputs: map[string]string{DeploysFile: "d", LabelsFile: "l"},
	}
	tr.Horizons[0].Calibration = &cal
	return tr
}

func TestTrainRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), TrainFile)
	tr := testTrain()
	if err := WriteTrain(path, tr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.MarshalIndent(tr, "", "  "); string(b) != string(want)+"\n" {
		t.Errorf("wrote\n%s\nwant indented JSON\n%s", b, want)
	}
	got, err := ReadTrain(path)
	if err != nil {
		t.Fatal(err)
	}
	// NaN never equals itself: compare the files the two write.
	again := filepath.Join(t.TempDir(), TrainFile)
	if err := WriteTrain(again, got); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(again); string(b2) != string(b) {
		t.Errorf("read back and written again:\n%s\nfirst:\n%s", b2, b)
	}
	var params bytes.Buffer
	if err := json.Compact(&params, got.Params); err != nil {
		t.Fatal(err)
	}
	if got.Horizons[0].ValidAUC != 0.75 || !math.IsNaN(float64(got.Horizons[1].Threshold.Recall)) || params.String() != `{"num_trees":300}` {
		t.Errorf("read %+v", got)
	}
	if c := got.Choice; c == nil || c.Target.Precision != 0.95 || c.Precision.K != 4 || !math.IsNaN(float64(c.FalseAlarmsPerHealthy.Value)) ||
		got.Horizons[0].Calibration == nil || got.Horizons[0].Calibration.Rows != 5 || got.Policy.Calibration[1] != (policy.Platt{A: 1.2, B: -1}) {
		t.Errorf("choice %+v, calibration %+v %v", got.Choice, got.Horizons[0].Calibration, got.Policy.Calibration)
	}
	if th := got.Thresholds(); !reflect.DeepEqual(th, map[int]float64{10: 0.9, 60: 0.5}) {
		t.Errorf("thresholds %v", th)
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Train)
		data   string // instead of change
		want   []string
	}{
		{"not JSON", nil, `{"policy":`, []string{"unexpected end"}},
		{"no policy", nil, `{"label_source":"weak","thresholds":{"10":0.5}}`, []string{"0 horizons and 0 thresholds"}},
		{"short policy", func(tr *Train) { tr.Policy.Thresholds = tr.Policy.Thresholds[:1] }, "", []string{"2 horizons and 1 thresholds"}},
		{"threshold range", func(tr *Train) { tr.Policy.Thresholds[1] = 1.5 }, "", []string{"threshold 1.5"}},
		{"horizon models", func(tr *Train) { tr.Horizons = tr.Horizons[:1] }, "", []string{"1 horizon models for a policy of 2"}},
		{"horizon order", func(tr *Train) { tr.Horizons[0].Horizon, tr.Horizons[1].Horizon = 60, 10 }, "", []string{"horizon model 1 is for 60 minutes"}},
		{"choice thresholds", func(tr *Train) { tr.Choice.Thresholds[0] = 0.8 }, "", []string{"policy_choice: thresholds [0.8 0.5], the policy's are [0.9 0.5]"}},
		{"choice target", func(tr *Train) { tr.Choice.Target = policy.Target{} }, "", []string{"policy_choice: target: set precision or false_alarms_per_healthy"}},
		{"calibrators", func(tr *Train) { tr.Policy.Calibration = tr.Policy.Calibration[:1] }, "", []string{"1 calibrators for 2 horizons"}},
		{"decreasing calibrator", func(tr *Train) { tr.Policy.Calibration[0].A = -1 }, "", []string{"calibrator at 10 min"}},
		{"metric type", nil, `{"policy":{"horizons":[10],"thresholds":[0.5]},"horizons":[{"horizon":10,"valid_auc":"high"}]}`, []string{"metric"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if tt.change != nil {
				tr := testTrain()
				tt.change(tr)
				data, _ = json.Marshal(tr)
			}
			p := writeText(t, TrainFile, string(data))
			_, err := ReadTrain(p)
			wantErr(t, err, append(tt.want, p)...)
		})
	}
	if _, err := ReadTrain(filepath.Join(t.TempDir(), TrainFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLFReport(t *testing.T) {
	// the form labeling.Report writes (abridged)
	data := `{"schema":"fl-lf-report-v1","rows":10,"labelled":8,"faulty":3,"class_balance":0.3,
 "model":{"iterations":12,"groups":[["a","b"]]},
 "functions":[
  {"name":"rollback","kind":"builtin","coverage":0.5,"overlap":0.25,"conflict":null,"group":[],
   "estimated":{"given_faulty":{"faulty":0.5},"accuracy":0.8},"empirical":{"annotated":4,"accuracy":0.75}},
  {"name":"incident","kind":"builtin","coverage":0.1,"overlap":0,"conflict":0,"estimated":{"accuracy":null},"empirical":null},
  {"name":"sparse"}]}`
	path := filepath.Join(t.TempDir(), LFReportFile)
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatal(err)
	}
	if err := WriteLFReport(path, v); err != nil {
		t.Fatal(err)
	}
	r, err := ReadLFReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Schema != "fl-lf-report-v1" || r.Rows != 10 || r.Labelled != 8 || r.Faulty != 3 || r.ClassBalance != 0.3 || len(r.Functions) != 3 {
		t.Fatalf("read %+v", r)
	}
	var model map[string]any
	if err := json.Unmarshal(r.Model, &model); err != nil || model["iterations"] != 12.0 {
		t.Errorf("model %s: %v", r.Model, err)
	}
	rb, inc, sp := r.Functions[0], r.Functions[1], r.Functions[2]
	if rb.Name != "rollback" || rb.Kind != "builtin" || rb.Coverage != 0.5 || rb.Overlap != 0.25 || !math.IsNaN(float64(rb.Conflict)) ||
		rb.Estimated.Accuracy != 0.8 || rb.Empirical == nil || rb.Empirical.Accuracy != 0.75 {
		t.Errorf("rollback read as %+v", rb)
	}
	if inc.Overlap != 0 || !math.IsNaN(float64(inc.Estimated.Accuracy)) || inc.Empirical != nil {
		t.Errorf("incident read as %+v", inc)
	}
	if !math.IsNaN(float64(sp.Coverage)) || !math.IsNaN(float64(sp.Overlap)) || !math.IsNaN(float64(sp.Conflict)) || !math.IsNaN(float64(sp.Estimated.Accuracy)) {
		t.Errorf("absent numbers read as %+v, want NaN", sp)
	}
	if r, err := ParseLFReport([]byte(`{}`)); err != nil || !math.IsNaN(float64(r.ClassBalance)) {
		t.Errorf("empty report: %+v %v, want NaN class balance", r, err)
	}
	for _, bad := range []string{`{"functions":`, `{"functions":{"rollback":{}}}`, `{"rows":"ten"}`} {
		p := writeText(t, LFReportFile, bad)
		_, err := ReadLFReport(p)
		wantErr(t, err, p)
	}
	if _, err := ReadLFReport(filepath.Join(t.TempDir(), LFReportFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
