package quality

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

func TestExcessErrors(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name                        string
		shape                       string
		onset                       int64
		severity                    float64
		requests, expected, minutes float64
		want                        float64
		judged                      bool
	}{
		{"step", "step", 0, 3, 1000, 0.005, 60, 10, true},
		{"new signature", "new_signature", 0, 2, 1000, 0.004, 60, 4, true},
		{"ramp counts half", "ramp", 0, 3, 1000, 0.005, 60, 5, true},
		{"delayed: the part after onset", "delayed", 15, 5, 1000, 0.001, 60, 3, true},
		{"delayed after the version was replaced", "delayed", 30, 5, 1000, 0.001, 20, 0, true},
		{"alt partial: the added rate throughout", "partial", 0, 3, 1000, 0.005, 60, 10, true},
		{"alt intermittent: the mean multiplier", "intermittent", 0, 2, 1000, 0.005, 60, 5, true},
		{"alt leak over the hour: the fastest leak's share", "leak", 0, 4, 1000, 0.005, 60, 15 * (1 - 10.0/60), true},
		{"alt leak replaced at 10 minutes", "leak", 0, 4, 1000, 0.005, 10, 15 * 10.0 / 40, true},
		{"latency is not judged", "latency", 0, 3, 1000, 0.005, 60, 0, false},
		{"KPI shift is not judged", "shift", 0, 1.2, 1000, 0.005, 60, 0, false},
		{"served nothing: no evidence", "step", 0, 3, 0, 0.005, 60, 0, true},
		{"requests unknown", "step", 0, 3, nan, 0.005, 60, 0, false},
		{"no expected rate", "step", 0, 3, 1000, nan, 60, 0, false},
		{"replaced in its start minute", "step", 0, 3, 1000, 0.005, 0, 0, false},
	} {
		e, ok := excessErrors(history.Truth{Faulty: true, Shape: c.shape, OnsetMinute: c.onset, Severity: c.severity}, c.requests, c.expected, c.minutes)
		if ok != c.judged || math.Abs(e-c.want) > 1e-9 {
			t.Errorf("%s: excessErrors = %v, %v; want %v, %v", c.name, e, ok, c.want, c.judged)
		}
	}
}

// TestTallyEvidence writes a features file and counts its faults: d1 rich
// and flagged, d2 poor (40 requests at 1 %, 5×: 1.6 errors) and flagged,
// d3 rich but missed, d4 delayed with onset 30 and replaced by d5 after 20
// minutes (no evidence), d5 too mild to count, d6 latency (not judged),
// h1 healthy, g1 and g2 below.
func TestTallyEvidence(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rows := []struct {
		id                 string
		service            string
		start              time.Duration
		requests, expected float64
		truth              history.Truth
		flagged            bool
	}{
		{"d1", "a", 0, 6000, 0.002, history.Truth{Faulty: true, Shape: "step", Severity: 4}, true},
		{"d2", "b", 0, 40, 0.01, history.Truth{Faulty: true, Shape: "step", Severity: 5}, true},
		{"d3", "c", 0, 6000, 0.002, history.Truth{Faulty: true, Shape: "ramp", Severity: 3}, false},
		{"d4", "d", 0, 6000, 0.002, history.Truth{Faulty: true, Shape: "delayed", OnsetMinute: 30, Severity: 8}, false},
		{"d5", "d", 20 * time.Minute, 6000, 0.002, history.Truth{Faulty: true, Shape: "step", Severity: 1.3}, false},
		{"d6", "e", 0, 6000, 0.002, history.Truth{Faulty: true, Shape: "latency", Severity: 3}, true},
		{"h1", "a", 3 * time.Hour, 6000, 0.002, history.Truth{}, true},
		// g1: aggregate-only metrics (no version's requests, no previous
		// version's rate): 100 requests a minute for 60 minutes at 0.2 %,
		// 4×: 36 errors. g2: a canary version that served nothing while
		// the previous one served: no evidence.
		{"g1", "f", 0, 0, 0.002, history.Truth{Faulty: true, Shape: "step", Severity: 4}, true},
		{"g2", "g", 0, 0, 0.002, history.Truth{Faulty: true, Shape: "step", Severity: 4}, false},
	}
	path := filepath.Join(t.TempDir(), workdir.FeaturesFile(60))
	fw, err := workdir.CreateFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]history.Truth{}
	flagged := map[string]bool{}
	var deploys []workdir.DeployRow
	for _, r := range rows {
		v := make([]float64, features.NumFeatures)
		v[features.NewRequests], v[features.ExpectedErrorRate] = r.requests, r.expected
		v[features.BaselineRPM], v[features.PrevErrorRate] = 100, 0.001
		if r.id == "g1" {
			v[features.PrevErrorRate] = math.NaN()
		}
		if err := fw.Add(r.id, v); err != nil {
			t.Fatal(err)
		}
		tr := r.truth
		tr.DeploymentID = r.id
		truth[r.id] = tr
		flagged[r.id] = r.flagged
		deploys = append(deploys, workdir.DeployRow{DeploymentID: r.id, Service: r.service, Environment: "prod", StartedAt: t0.Add(r.start)})
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	ft, err := workdir.ReadFeatures(path, evidenceColumnNames()...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := TallyEvidence(ft, 60, deploys, truth, flagged, DefaultFloors())
	if err != nil {
		t.Fatal(err)
	}
	// The ceiling reads every deploy's window: λ0 = requests × rate and E
	// as above; d5 counts toward precision only, d6 is found unjudged, h1
	// is the one healthy deploy.
	ceil := newCeiling()
	for _, w := range []struct {
		judged, counted bool
		l0, e           float64
	}{
		{true, true, 12, 36}, {true, true, 0.4, 1.6}, {true, true, 12, 12}, {true, true, 12, 0},
		{true, false, 12, 3.6}, {false, true, 0, 0}, {true, true, 12, 36}, {true, true, 0, 0},
	} {
		ceil.fault(w.judged, w.l0, w.e, w.counted)
	}
	ceil.healthy(12)
	found, alpha := ceil.best(DefaultFloors().Precision)
	if math.Abs(c.CeilingFound-found) > 1e-9 || c.CeilingAlpha != alpha {
		t.Errorf("ceiling %v at α %v, want %v at α %v", c.CeilingFound, c.CeilingAlpha, found, alpha)
	}
	c.CeilingFound = found
	if want := (EvidenceCounts{Judged: 6, Poor: 3, RichFlagged: 2, PoorFlagged: 1, CeilingFaults: 7, CeilingFound: found, CeilingAlpha: alpha}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if r, ok := c.Ceiling(); !ok || r <= 0 || r > 1 {
		t.Errorf("ceiling %v, %v", r, ok)
	}
	s := c.Score()
	if s.PoorShare.K != 3 || s.PoorShare.N != 6 || s.RichRecall.K != 2 || s.RichRecall.N != 3 || s.PoorRecall.K != 1 || s.PoorRecall.N != 3 {
		t.Errorf("score %+v", s)
	}

	// A features row without truth, or a fault without a deploys row, is an
	// error.
	delete(truth, "h1")
	if _, err := TallyEvidence(ft, 60, deploys, truth, flagged, DefaultFloors()); err == nil || !strings.Contains(err.Error(), "h1 has no ground truth") {
		t.Errorf("missing truth: %v", err)
	}
	truth["h1"] = history.Truth{DeploymentID: "h1"}
	if _, err := TallyEvidence(ft, 60, deploys[1:], truth, flagged, DefaultFloors()); err == nil || !strings.Contains(err.Error(), "d1 is not in deploys.parquet") {
		t.Errorf("missing deploy: %v", err)
	}
}
