package policy

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// perLookFixture builds validation scores at three horizons where each look
// alone has precision ≥ 0.9 at threshold 0.5 — what per-look targets of 0.9
// accept — but every look's false alarms are different healthy deploys, so
// the policy as a whole (flag at any look) falls to about 0.75. Faulty
// deploys score U(0.5, 1) at every look; each look has its own 33 healthy
// deploys at U(0.5, 0.7); 3,000 other healthy deploys score below 0.45.
func perLookFixture() (probs [][]float64, y []float64) {
	rng := rand.New(rand.NewPCG(7, 8))
	const faulty, perLook, quiet = 300, 33, 3000
	for d := 0; d < faulty; d++ {
		probs = append(probs, []float64{0.5 + 0.5*rng.Float64(), 0.5 + 0.5*rng.Float64(), 0.5 + 0.5*rng.Float64()})
		y = append(y, 1)
	}
	for look := 0; look < 3; look++ {
		for d := 0; d < perLook; d++ {
			row := []float64{0.45 * rng.Float64(), 0.45 * rng.Float64(), 0.45 * rng.Float64()}
			row[look] = 0.5 + 0.2*rng.Float64()
			probs = append(probs, row)
			y = append(y, 0)
		}
	}
	for d := 0; d < quiet; d++ {
		probs = append(probs, []float64{0.45 * rng.Float64(), 0.45 * rng.Float64(), 0.45 * rng.Float64()})
		y = append(y, 0)
	}
	return probs, y
}

func column(probs [][]float64, i int) []float64 {
	out := make([]float64, len(probs))
	for d, r := range probs {
		out[d] = r[i]
	}
	return out
}

// TestChooseJointMeetsTargetWherePerLookTargetsDoNot is issue 12's case:
// per-look targets let three looks add up their false alarms; the joint
// choice meets 0.95 for the policy as a whole, by its Wilson lower bound.
func TestChooseJointMeetsTargetWherePerLookTargetsDoNot(t *testing.T) {
	probs, y := perLookFixture()
	horizons := []int{10, 20, 60}
	perLook := Policy{Horizons: horizons, Thresholds: []float64{0.5, 0.5, 0.5}}
	for i, h := range horizons {
		if c := LookAlone(column(probs, i), y, 0.5, Choice{}); float64(c.Precision) < 0.9 || float64(c.Recall) != 1 {
			t.Fatalf("fixture: the %d-minute look alone has precision %v recall %v at 0.5, want ≥ 0.9 and 1", h, c.Precision, c.Recall)
		}
	}
	if r := Evaluate(perLook, probs, y); float64(r.Precision) >= 0.9 {
		t.Fatalf("fixture: per-look thresholds give policy precision %v, want < 0.9", r.Precision)
	}
	c, err := Choose(horizons, probs, y, Target{Precision: 0.95}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Met || c.Verdict != Met || c.Fallback != "" {
		t.Fatalf("target not met: %+v", c)
	}
	if float64(c.Precision.Lo) < 0.95 {
		t.Errorf("precision %v with Wilson lower bound %v < 0.95", c.Precision.Value, c.Precision.Lo)
	}
	r := Evaluate(Policy{Horizons: horizons, Thresholds: c.Thresholds}, probs, y)
	if r.TP != c.Precision.K || r.TP+r.FP != c.Precision.N || float64(r.Precision) < 0.95 {
		t.Errorf("chosen policy evaluates to %d/%d, choice says %d/%d", r.TP, r.TP+r.FP, c.Precision.K, c.Precision.N)
	}
	// Look-specific false alarms sit below 0.7: a good joint policy keeps
	// every look above them and still catches most faulty deploys.
	if float64(r.Recall) < 0.9 {
		t.Errorf("recall %v, want ≥ 0.9 (1 − 0.4³ ≈ 0.94 with every look at 0.7)", r.Recall)
	}
}

// bruteBest returns the best policy by Objective among those meeting
// target with at least minFlagged true flags, over every vector of
// thresholds drawn from all distinct scores (not only the faulty
// deploys'), and the best fallback precision lower bound.
func bruteBest(horizons []int, probs [][]float64, y []float64, target Target, minFlagged int) (best Report, found bool, bestLB float64) {
	var cands [][]float64
	for i := range horizons {
		s := []float64{1}
		for _, r := range probs {
			if !math.IsNaN(r[i]) {
				s = append(s, r[i])
			}
		}
		sort.Float64s(s)
		cands = append(cands, distinct(s))
	}
	bestLB = math.Inf(-1)
	ttd := func(r Report) float64 { return float64(r.MeanTimeToDetection) * float64(r.TP) }
	for _, a := range cands[0] {
		for _, b := range cands[1] {
			for _, c := range cands[2] {
				r := Evaluate(Policy{Horizons: horizons, Thresholds: []float64{a, b, c}}, probs, y)
				if r.TP < minFlagged {
					continue
				}
				if target.Assess(r.TP, r.FP, r.FP+r.TN).Verdict == Met {
					if !found || r.TP > best.TP || r.TP == best.TP && (ttd(r) < ttd(best)-1e-9 || math.Abs(ttd(r)-ttd(best)) < 1e-9 && r.FP < best.FP) {
						best, found = r, true
					}
				} else if lb := precisionLowerBound(r.TP, r.FP); lb > bestLB {
					bestLB = lb
				}
			}
		}
	}
	return best, found, bestLB
}

// TestChooseMatchesBruteForce checks the exhaustive grid against a search
// over every threshold vector on small random sets with missing scores.
func TestChooseMatchesBruteForce(t *testing.T) {
	horizons := []int{10, 20, 60}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		n := 36
		var probs [][]float64
		var y []float64
		for d := 0; d < n; d++ {
			faulty := rng.Float64() < 0.35
			row := make([]float64, 3)
			for i := range row {
				v := rng.Float64()
				if faulty {
					v = math.Sqrt(v) // faulty deploys score higher
				}
				row[i] = math.Round(v*20) / 20 // ties
				if rng.Float64() < 0.15 {
					row[i] = math.NaN()
				}
			}
			label := 0.0
			if faulty {
				label = 1
			}
			if d%17 == 5 {
				label = math.NaN()
			}
			probs, y = append(probs, row), append(y, label)
		}
		targets := []Target{{Precision: 0.5}, {Precision: 0.7}, {FalseAlarmsPerHealthy: 0.3}, {Precision: 0.99}}
		for _, target := range targets {
			c, err := Choose(horizons, probs, y, target, 2)
			if err != nil {
				t.Fatalf("seed %d %v: %v", seed, target, err)
			}
			best, found, bestLB := bruteBest(horizons, probs, y, target, 2)
			got := Evaluate(Policy{Horizons: horizons, Thresholds: c.Thresholds}, probs, y)
			switch {
			case found != c.Met:
				t.Errorf("seed %d %v: brute force found a policy meeting the target: %v, Choose: %v", seed, target, found, c.Met)
			case found:
				gotTTD := float64(got.MeanTimeToDetection) * float64(got.TP)
				bestTTD := float64(best.MeanTimeToDetection) * float64(best.TP)
				if got.TP != best.TP || math.Abs(gotTTD-bestTTD) > 1e-9 || got.FP != best.FP {
					t.Errorf("seed %d %v: Choose tp %d ttd %v fp %d, brute force tp %d ttd %v fp %d", seed, target, got.TP, gotTTD, got.FP, best.TP, bestTTD, best.FP)
				}
			case c.Fallback == FallbackMaxPrecision:
				if lb := precisionLowerBound(got.TP, got.FP); math.Abs(lb-bestLB) > 1e-12 {
					t.Errorf("seed %d %v: fallback lower bound %v, brute force %v", seed, target, lb, bestLB)
				}
			}
		}
	}
}

func TestChooseFalseAlarmTarget(t *testing.T) {
	probs, y := perLookFixture()
	target := Target{FalseAlarmsPerHealthy: 0.005}
	c, err := Choose([]int{10, 20, 60}, probs, y, target, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Met || float64(c.FalseAlarmsPerHealthy.Hi) > 0.005 {
		t.Fatalf("false alarms %+v, target not met by the upper bound", c.FalseAlarmsPerHealthy)
	}
	// a looser false-alarm budget buys at least as much recall
	loose, err := Choose([]int{10, 20, 60}, probs, y, Target{FalseAlarmsPerHealthy: 0.05}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if loose.Recall.K < c.Recall.K || loose.Recall.K != 300 {
		t.Errorf("recall at 0.05 false alarms %d, at 0.005 %d; want all 300 at 0.05", loose.Recall.K, c.Recall.K)
	}
	if a := c.Assessment(); a.Achieved != c.FalseAlarmsPerHealthy || a.Verdict != Met {
		t.Errorf("assessment %+v", a)
	}
}

func TestChooseFallbacks(t *testing.T) {
	horizons := []int{10, 20}
	// Too few faulty deploys to flag min_flagged: flag nothing.
	probs := [][]float64{{0.9, 0.9}, {0.8, 0.1}, {0.2, 0.2}}
	y := []float64{1, 1, 0}
	c, err := Choose(horizons, probs, y, Target{Precision: 0.95}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fallback != FallbackNone || c.Met || c.Thresholds[0] != 1 || c.Thresholds[1] != 1 {
		t.Errorf("too few positives: %+v", c)
	}
	// Reachable count but an unreachable bound: the most precise by its bound.
	probs = [][]float64{{0.9, nan}, {0.8, 0.85}, {0.7, 0.6}, {0.6, 0.55}, {0.3, 0.2}, {0.1, 0.1}}
	y = []float64{1, 1, 0, 1, 0, 0}
	c, err = Choose(horizons, probs, y, Target{Precision: 0.95}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Met || c.Fallback != FallbackMaxPrecision || c.Verdict == Met {
		t.Fatalf("unreachable target: %+v", c)
	}
	// 2/2 has lower bound 0.342, 3/4 0.301: two sure flags beat three of four.
	if c.Precision.K != 2 || c.Precision.N != 2 {
		t.Errorf("fallback flags %d/%d, want 2/2", c.Precision.K, c.Precision.N)
	}
	if _, err := Choose(horizons, probs, y, Target{}, 2); err == nil {
		t.Error("empty target accepted")
	}
}

func TestChooseThinsLargeGrids(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	horizons := []int{10, 20, 60, 120}
	var probs [][]float64
	var y []float64
	for d := 0; d < 4000; d++ {
		faulty := d%4 == 0
		row := make([]float64, len(horizons))
		for i := range row {
			row[i] = rng.Float64() * 0.6
			if faulty {
				row[i] += 0.4
			}
		}
		probs, y = append(probs, row), append(y, boolf(faulty))
	}
	c, err := Choose(horizons, probs, y, Target{Precision: 0.9}, 3)
	if err != nil {
		t.Fatal(err)
	}
	grid := 1
	for _, n := range c.Candidates {
		grid *= n + 1
		if n >= 1000 {
			t.Errorf("candidates %v not thinned", c.Candidates)
		}
	}
	if grid > MaxGrid || c.Searched != grid {
		t.Errorf("grid %d (searched %d), limit %d", grid, c.Searched, MaxGrid)
	}
	if !c.Met || float64(c.Precision.Lo) < 0.9 {
		t.Errorf("thinned grid: %+v", c)
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestTargetAssess(t *testing.T) {
	for _, tc := range []struct {
		target       Target
		tp, fp, heal int
		want         string
	}{
		{Target{Precision: 0.95}, 95, 0, 1000, Met},       // lower bound 95/98.84 = 0.961
		{Target{Precision: 0.95}, 60, 0, 1000, Undecided}, // lower bound 0.940
		{Target{Precision: 0.9}, 5, 5, 1000, Missed},      // upper bound 0.763
		{Target{Precision: 0.5}, 8, 2, 1000, Undecided},   // [0.490, 0.943]
		{Target{Precision: 0.9}, 0, 0, 1000, Undecided},   // nothing flagged
		{Target{FalseAlarmsPerHealthy: 0.01}, 50, 0, 1000, Met},
		{Target{FalseAlarmsPerHealthy: 0.01}, 50, 10, 1000, Undecided},
		{Target{FalseAlarmsPerHealthy: 0.01}, 50, 30, 1000, Missed},
		{Target{FalseAlarmsPerHealthy: 0.01}, 50, 0, 0, Undecided},
	} {
		if a := tc.target.Assess(tc.tp, tc.fp, tc.heal); a.Verdict != tc.want {
			t.Errorf("%v with %d/%d flags, %d healthy: %s (%+v), want %s", tc.target, tc.tp, tc.tp+tc.fp, tc.heal, a.Verdict, a.Achieved, tc.want)
		}
	}
	for _, bad := range []Target{{}, {Precision: 0.9, FalseAlarmsPerHealthy: 0.01}, {Precision: 1.2}, {FalseAlarmsPerHealthy: 1}, {Precision: -0.5}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if s := (Target{FalseAlarmsPerHealthy: 0.01}).String(); s != "false alarms per healthy deploy ≤ 0.01" {
		t.Errorf("String %q", s)
	}
}
