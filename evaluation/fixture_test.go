package evaluation

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

// The fixture: fixtureN deploys of three services, one an hour, the
// oldest fixtureTrain in train, then fixtureValid in valid, the rest test.
// Deploy i is truly faulty when i%3 == 0; its 60-minute error ratio grows
// with i%5 when faulty and i%4 when healthy, so that some healthy deploys
// look faulty and some faulty ones look healthy.
const (
	fixtureN     = 40
	fixtureTrain = 20
	fixtureValid = 5
)

var fixtureStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func fxID(i int) string             { return fmt.Sprintf("d%03d", i) }
func fxService(i int) string        { return []string{"api", "web", "worker"}[i%3] }
func fxStarted(i int) time.Time     { return fixtureStart.Add(time.Duration(i) * time.Hour) }
func fxFaulty(i int) bool           { return i%3 == 0 }
func fxHorizonFactor(h int) float64 { return map[int]float64{10: 0.6, 20: 0.85, 60: 1}[h] }

// fxErr60 is the deploy's error ratio (new over old version) at 60 minutes.
func fxErr60(i int) float64 {
	if fxFaulty(i) {
		return 1.2 + 0.2*float64(i%5)
	}
	return 0.9 + 0.15*float64(i%4)
}

func fxErr(i, h int) float64 { return 1 + (fxErr60(i)-1)*fxHorizonFactor(h) }

// fxHasRow: the newest deploy has fewer than 60 minutes of data.
func fxHasRow(i, h int) bool { return !(i == fixtureN-1 && h == 60) }

func fxEnsemble(i, h int) float64 {
	if i%7 == 0 {
		return math.NaN() // inconclusive
	}
	if fxErr(i, h) > 1.45 {
		return 1
	}
	return 0
}

func fxPFaulty(i int) float64 {
	if fxFaulty(i) {
		return 0.8 - 0.1*float64(i%4)
	}
	return 0.1 + 0.08*float64(i%5)
}

func fxLabel(i int) int {
	if i == 28 {
		return -1
	}
	if fxPFaulty(i) >= 0.5 {
		return 1
	}
	return 0
}

type fxDeployRow struct {
	DeploymentID string    `parquet:"deployment_id"`
	Service      string    `parquet:"service"`
	Environment  string    `parquet:"environment"`
	Version      string    `parquet:"version"`
	StartedAt    time.Time `parquet:"started_at,timestamp(millisecond)"`
	Kind         string    `parquet:"kind"`
}

type fxFeatureRow struct {
	DeploymentID    string  `parquet:"deployment_id"`
	ErrRatio        float64 `parquet:"err_ratio"`
	ImpactPass      float64 `parquet:"impact_pass"`
	TemporalPass    float64 `parquet:"temporal_pass"`
	PersistencePass float64 `parquet:"persistence_pass"`
	EnsembleFaulty  float64 `parquet:"ensemble_faulty"`
	Inconclusive    float64 `parquet:"inconclusive"`
}

type fxLabelRow struct {
	DeploymentID string  `parquet:"deployment_id"`
	LFRollback   int8    `parquet:"lf_rollback"`
	LFStats      int8    `parquet:"lf_statistical_ensemble"`
	PFaulty      float64 `parquet:"p_faulty"`
	Label        int8    `parquet:"label"`
}

type fxSplitRow struct {
	DeploymentID string `parquet:"deployment_id"`
	Split        string `parquet:"split"`
}

func writeParquet[T any](t testing.TB, path string, rows []T) {
	t.Helper()
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// A three-leaf tree on err_ratio (≤1.1: −3, ≤1.35: 0.2, else 3) and a stump
// (≤1.45: −2, else 2); feature_names lists a second feature first, so that
// columns must be matched by name. Missing values go left (NaN missing type).
const fxWeakModel = `tree
version=v3
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=impact_pass err_ratio
feature_infos=[0:1] [0:3]
tree_sizes=400

Tree=0
num_leaves=3
num_cat=0
split_feature=1 1
split_gain=1 1
threshold=1.3500000000000001 1.1000000000000001
decision_type=10 10
left_child=1 -1
right_child=-3 -2
leaf_value=-3 0.20000000000000001 3
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=2 3
internal_count=2 3
is_linear=0
shrinkage=1


end of trees
`

const fxEnsembleModel = `tree
version=v3
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=impact_pass err_ratio
feature_infos=[0:1] [0:3]
tree_sizes=300

Tree=0
num_leaves=2
num_cat=0
split_feature=1
split_gain=1
threshold=1.45
decision_type=10
left_child=-1
right_child=-2
leaf_value=-2 2
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=2
internal_count=2
is_linear=0
shrinkage=1


end of trees
`

// fxWeakP is what the weak model must give for an error ratio.
func fxWeakP(r float64) float64 {
	switch {
	case math.IsNaN(r), r <= 1.1:
		return metrics.Sigmoid(-3)
	case r <= 1.35:
		return metrics.Sigmoid(0.2)
	}
	return metrics.Sigmoid(3)
}

var fxWeakThresholds = map[int]float64{10: 0.9, 20: 0.6, 60: 0.5}
var fxEnsembleThresholds = map[int]float64{10: 0.9, 20: 0.9, 60: 0.5}

// writeFixture writes the fixture workdir and returns its path.
func writeFixture(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	var deploys []fxDeployRow
	var labels []fxLabelRow
	var split []fxSplitRow
	for i := 0; i < fixtureN; i++ {
		deploys = append(deploys, fxDeployRow{fxID(i), fxService(i), "prod-us1", fmt.Sprintf("v%d", i), fxStarted(i), "deploy"})
		lf := int8(0)
		if fxEnsemble(i, 60) == 1 {
			lf = 1
		}
		labels = append(labels, fxLabelRow{fxID(i), -1, lf, fxPFaulty(i), int8(fxLabel(i))})
		s := "test"
		switch {
		case i < fixtureTrain:
			s = "train"
		case i < fixtureTrain+fixtureValid:
			s = "valid"
		}
		split = append(split, fxSplitRow{fxID(i), s})
	}
	writeParquet(t, filepath.Join(dir, "deploys.parquet"), deploys)
	writeParquet(t, filepath.Join(dir, "labels.parquet"), labels)
	writeParquet(t, filepath.Join(dir, "split.parquet"), split)
	for _, h := range []int{10, 20, 60} {
		var rows []fxFeatureRow
		for i := 0; i < fixtureN; i++ {
			if !fxHasRow(i, h) {
				continue
			}
			e := fxEnsemble(i, h)
			inc := 0.0
			if math.IsNaN(e) {
				inc = 1
			}
			rows = append(rows, fxFeatureRow{fxID(i), fxErr(i, h), e, e, e, e, inc})
		}
		writeParquet(t, filepath.Join(dir, fmt.Sprintf("features_h%d.parquet", h)), rows)
	}
	lf := `{"functions":[
 {"name":"statistical_ensemble","coverage":0.85,"overlap":0.3,"conflict":0.1,"estimated":{"accuracy":0.8},"empirical":{"accuracy":0.75}},
 {"name":"rollback","coverage":0.05,"overlap":0.04,"conflict":0.01,"estimated":{"accuracy":0.9},"empirical":null}],
 "class_balance":0.3}`
	mustWrite(t, filepath.Join(dir, "lf_report.json"), lf)
	for src, m := range map[string]string{"weak": fxWeakModel, "ensemble": fxEnsembleModel} {
		th := fxWeakThresholds
		if src == "ensemble" {
			th = fxEnsembleThresholds
		}
		md := filepath.Join(dir, "models", src)
		if err := os.MkdirAll(md, 0o755); err != nil {
			t.Fatal(err)
		}
		tr := &workdir.Train{LabelSource: src}
		for _, h := range []int{10, 20, 60} {
			mustWrite(t, filepath.Join(md, workdir.ModelFile(h)), m)
			tr.Horizons = append(tr.Horizons, workdir.HorizonInfo{Horizon: h, ModelFile: workdir.ModelFile(h)})
			tr.Policy.Horizons = append(tr.Policy.Horizons, h)
			tr.Policy.Thresholds = append(tr.Policy.Thresholds, th[h])
		}
		if src == "weak" {
			fxWeakChoice(tr)
		}
		if err := workdir.WriteTrain(filepath.Join(md, workdir.TrainFile), tr); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustWrite(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fxAnnotations: two test deploys annotated once, one twice with a tie
// (the later verdict wins), and one train deploy.
func fxAnnotations() []history.Annotation {
	at := fixtureStart.Add(72 * time.Hour)
	return []history.Annotation{
		{DeploymentID: fxID(27), Label: "faulty", Annotator: "ana", AnnotatedAt: at},
		{DeploymentID: fxID(30), Label: "faulty", Annotator: "ana", AnnotatedAt: at},
		{DeploymentID: fxID(31), Label: "faulty", Annotator: "ana", AnnotatedAt: at},
		{DeploymentID: fxID(31), Label: "healthy", Annotator: "bo", AnnotatedAt: at.Add(time.Hour)},
		{DeploymentID: fxID(3), Label: "faulty", Annotator: "ana", AnnotatedAt: at},
	}
}

// memHistory is an in-memory HistoryReader and TruthReader over the fixture.
type memHistory struct {
	anns      []history.Annotation
	simulated bool
}

func (m *memHistory) Annotations(ctx context.Context) ([]history.Annotation, error) {
	return m.anns, nil
}

// Metrics serves 100 requests a minute per service; errors are 1 a minute,
// times the deploy's 60-minute error ratio in the hour after a deploy.
func (m *memHistory) Metrics(ctx context.Context, s history.Stream, r history.Range) ([]history.Series, error) {
	ser := history.Series{Version: "all"}
	for t := r.From; t.Before(r.Until); t = t.Add(time.Minute) {
		errs := int64(1)
		for i := 0; i < fixtureN; i++ {
			st := fxStarted(i)
			if fxService(i) == s.Service && !t.Before(st) && t.Before(st.Add(time.Hour)) {
				errs = int64(math.Round(10*fxErr60(i))) - 9
			}
		}
		ser.Minutes = append(ser.Minutes, history.UnixMinute(t))
		ser.Requests = append(ser.Requests, 100)
		ser.Errors = append(ser.Errors, float64(errs))
		ser.P50, ser.P95, ser.P99 = append(ser.P50, math.NaN()), append(ser.P95, math.NaN()), append(ser.P99, math.NaN())
	}
	return []history.Series{ser}, nil
}

func (m *memHistory) Truth(ctx context.Context) ([]history.Truth, error) {
	if !m.simulated {
		return nil, history.ErrNoTruth
	}
	var out []history.Truth
	for i := 0; i < fixtureN; i++ {
		tr := history.Truth{DeploymentID: fxID(i), Faulty: fxFaulty(i), OnsetMinute: -1}
		if tr.Faulty {
			tr.Shape, tr.OnsetMinute, tr.Severity = "step", 0, fxErr60(i)
		}
		out = append(out, tr)
	}
	return out, nil
}

// fxWeakPlatt are the weak model's calibrators in the fixture's train.json.
var fxWeakPlatt = []policy.Platt{{A: 0.8, B: -1.5}, {A: 1.1, B: -1}, {A: 0.6, B: -0.2}}

// fxWeakChoice records in the weak model's train.json an operating target
// that validation did not meet (precision 9/10 cannot show ≥ 0.95) and a
// calibrator per horizon with its validation diagnostics.
func fxWeakChoice(tr *workdir.Train) {
	tr.Choice = &policy.Choice{
		Target: policy.Target{Precision: 0.95}, Objective: policy.Objective, MinFlagged: 3,
		Thresholds: append([]float64(nil), tr.Policy.Thresholds...), Verdict: policy.Undecided, Fallback: policy.FallbackMaxPrecision,
		Precision: policy.NewRate(9, 10), FalseAlarmsPerHealthy: policy.NewRate(1, 20), Recall: policy.NewRate(9, 12),
		MeanTimeToDetection: 20, Candidates: []int{5, 5, 5}, Searched: 216,
	}
	tr.Policy.Calibration = fxWeakPlatt
	p := []float64{0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95, 0.15, 0.85}
	y := []float64{0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1}
	for i := range tr.Horizons {
		_, rep := policy.FitCalibration(p, y, 10)
		tr.Horizons[i].Calibration = &rep
	}
}
