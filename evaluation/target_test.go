package evaluation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

// The report states the weak model's operating target, its result on
// validation (from train.json) and on the held-out deploys against every
// reference, and the calibrators' reliability on validation.
func TestOperatingTargetReported(t *testing.T) {
	rep, dir := runFixture(t, true)
	if len(rep.Targets) != 1 || rep.Targets[0].Contender != ContenderWeak {
		t.Fatalf("targets %+v: want the weak model's only (the ensemble's train.json records none)", rep.Targets)
	}
	tr := rep.Targets[0]
	if tr.Statement != "precision ≥ 0.95" || tr.Fallback != policy.FallbackMaxPrecision || tr.Thresholds["20"] != fxWeakThresholds[20] {
		t.Errorf("target %+v", tr)
	}
	if want := fxWeakPlatt[1].Apply(fxWeakThresholds[20]); tr.CalibratedThresholds["20"] != metrics.Round6(want) {
		t.Errorf("calibrated threshold at 20 min %v, want %v", tr.CalibratedThresholds["20"], want)
	}
	if v := tr.Checks[0]; v.Data != DataCheckValidation || v.Precision.K != 9 || v.Precision.N != 10 || v.Verdict != policy.Undecided {
		t.Errorf("validation check %+v", v)
	}
	// Against truth: the fixture's own decisions (expectedDetectedAt), judged
	// by the Wilson interval of their precision.
	var c metrics.Confusion
	for i := fixtureTrain + fixtureValid; i < fixtureN; i++ {
		c.Add(expectedDetectedAt(ContenderWeak, i) >= 0, fxFaulty(i))
	}
	iv := metrics.Wilson(c.TP, c.TP+c.FP)
	want := policy.Undecided
	switch {
	case iv.Lo >= 0.95:
		want = policy.Met
	case iv.Hi < 0.95:
		want = policy.Missed
	}
	var truth *TargetCheck
	for i := range tr.Checks {
		if tr.Checks[i].Data == RefTruth {
			truth = &tr.Checks[i]
		}
	}
	if truth == nil || truth.Precision.K != c.TP || truth.Precision.N != c.TP+c.FP || truth.Verdict != want || truth.FalseAlarmsPerHealthy.K != c.FP {
		t.Errorf("truth check %+v, want %d/%d flags, verdict %s", truth, c.TP, c.TP+c.FP, want)
	}
	if len(tr.Checks) != 1+len(rep.References) {
		t.Errorf("%d checks for %d references", len(tr.Checks), len(rep.References))
	}
	if len(rep.ModelCalibration) != 3 || *rep.ModelCalibration[2].Platt != fxWeakPlatt[2] || rep.ModelCalibration[0].Rows != 12 {
		t.Errorf("model calibration %+v", rep.ModelCalibration)
	}
	out, err := rep.Write(filepath.Join(dir, workdir.EvaluationDir))
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(out[workdir.ReportFile])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"<h2>Operating target</h2>", "target <b>precision ≥ 0.95</b>", "Not met on validation", "Reliability on validation: weak", "Model calibration (validation)"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	md, err := os.ReadFile(out[workdir.SummaryFile])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Operating target: weak") || !strings.Contains(string(md), "| validation | 90.0% [59.6–98.2] (9/10) |") {
		t.Errorf("summary.md lacks the target table:\n%s", md)
	}
}
