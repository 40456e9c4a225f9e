package policy

import (
	"encoding/json"
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
func bruteBest(horizons []int, probs [][]float64, y []float64, target Target, minFlagged int) (best Report, found bool, bestLB float64, point Report, pointFound bool) {
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
	better := func(r, b Report) bool {
		return r.TP > b.TP || r.TP == b.TP && (ttd(r) < ttd(b)-1e-9 || math.Abs(ttd(r)-ttd(b)) < 1e-9 && r.FP < b.FP)
	}
	for _, a := range cands[0] {
		for _, b := range cands[1] {
			for _, c := range cands[2] {
				r := Evaluate(Policy{Horizons: horizons, Thresholds: []float64{a, b, c}}, probs, y)
				if r.TP < minFlagged {
					continue
				}
				if target.Assess(r.TP, r.FP, r.FP+r.TN).Verdict == Met {
					if !found || better(r, best) {
						best, found = r, true
					}
					continue
				}
				if lb := precisionLowerBound(r.TP, r.FP); lb > bestLB {
					bestLB = lb
				}
				if pointMet(target, r) && (!pointFound || better(r, point)) {
					point, pointFound = r, true
				}
			}
		}
	}
	return best, found, bestLB, point, pointFound
}

// certifiable reports whether a policy flagging exactly the faulty
// deployments of y would meet target.
func certifiable(target Target, y []float64) bool {
	var pos, neg int
	for _, v := range y {
		switch {
		case v >= 0.5:
			pos++
		case v >= 0:
			neg++
		}
	}
	return target.Assess(pos, 0, neg).Verdict == Met
}

// pointMet reports whether r meets target at the point estimate.
func pointMet(target Target, r Report) bool {
	if target.Kind() == TargetFalseAlarmsPerHealthy {
		return r.FP+r.TN > 0 && float64(r.FP)/float64(r.FP+r.TN) <= target.FalseAlarmsPerHealthy
	}
	return r.TP+r.FP > 0 && float64(r.TP)/float64(r.TP+r.FP) >= target.Precision
}

// TestChooseMatchesBruteForce checks the exhaustive grid against a search
// over every threshold vector on small random sets with missing scores.
func TestChooseMatchesBruteForce(t *testing.T) {
	horizons := []int{10, 20, 60}
	fallbacks := map[string]int{}
	defer func() {
		// every branch of the choice is exercised
		for _, f := range []string{"", FallbackPointEstimate, FallbackMaxPrecision} {
			if fallbacks[f] == 0 {
				t.Errorf("no case ended with fallback %q: %v", f, fallbacks)
			}
		}
	}()
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
		targets := []Target{{Precision: 0.5}, {Precision: 0.7}, {Precision: 0.8}, {Precision: 0.9}, {FalseAlarmsPerHealthy: 0.3}, {Precision: 0.99}}
		for _, target := range targets {
			c, err := Choose(horizons, probs, y, target, 2)
			if err != nil {
				t.Fatalf("seed %d %v: %v", seed, target, err)
			}
			best, found, bestLB, point, pointFound := bruteBest(horizons, probs, y, target, 2)
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
			case c.Fallback == FallbackPointEstimate:
				if certifiable(target, y) {
					t.Errorf("seed %d %v: point-estimate fallback on a split that can meet the target", seed, target)
				}
				if !pointFound || got.TP != point.TP || got.FP != point.FP {
					t.Errorf("seed %d %v: point-estimate fallback tp %d fp %d, brute force tp %d fp %d (found %v)", seed, target, got.TP, got.FP, point.TP, point.FP, pointFound)
				}
			case c.Fallback == FallbackMaxPrecision:
				if lb := precisionLowerBound(got.TP, got.FP); math.Abs(lb-bestLB) > 1e-12 {
					t.Errorf("seed %d %v: fallback lower bound %v, brute force %v", seed, target, lb, bestLB)
				}
				if pointFound && point.TP > got.TP && !certifiable(target, y) {
					t.Errorf("seed %d %v: max-bound fallback flags %d faulty, a point-estimate policy %d", seed, target, got.TP, point.TP)
				}
			}
			fallbacks[c.Fallback]++
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
	// No bound reaches 0.95 with 40 flags, but 38 of 40 meet it at the
	// point estimate: more recall than the highest bound (20/20, 0.839
	// against 38/40's 0.835), so that policy is taken.
	probs, y = nil, nil
	for i := range 60 {
		label := 1.0
		if i == 21 || i == 30 || i >= 40 {
			label = 0
		}
		probs, y = append(probs, []float64{1 - float64(i)/100}), append(y, label)
	}
	c, err = Choose([]int{10}, probs, y, Target{Precision: 0.95}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Met || c.Fallback != FallbackPointEstimate || c.Verdict != Undecided || c.Precision.K != 38 || c.Precision.N != 40 {
		t.Errorf("point-estimate fallback: %+v", c)
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

// TestChooseAtConfidence: on a small validation split no policy can show
// precision ≥ 0.95 by the Wilson 95% lower bound (it takes 73 clean
// flags), so Choose falls back; judged at a lower confidence or on the
// point estimate the same data meets the target, and "met" says so only
// at the confidence asked for. Higher confidence never flags more.
func TestChooseAtConfidence(t *testing.T) {
	// 40 faulty deploys at 0.6..0.99, 1 healthy at 0.55 and 400 quiet ones.
	var probs [][]float64
	var y []float64
	for d := 0; d < 40; d++ {
		p := 0.6 + 0.39*float64(d)/39
		probs = append(probs, []float64{p})
		y = append(y, 1)
	}
	probs = append(probs, []float64{0.55})
	y = append(y, 0)
	for d := 0; d < 400; d++ {
		probs = append(probs, []float64{0.1})
		y = append(y, 0)
	}
	target := Target{Precision: 0.95}
	prevTP := -1
	for _, tc := range []float64{0.99, 0.95, 0.80, 0.5, 0} {
		c, err := ChooseAt([]int{10}, probs, y, target, 3, tc)
		if err != nil {
			t.Fatal(err)
		}
		if c.Confidence != tc {
			t.Errorf("confidence %v: choice records %v", tc, c.Confidence)
		}
		// "Met" must mean the bound asked for.
		lo := float64(c.Precision.Value)
		if tc != 0 {
			lo, _ = wilsonZ(c.Precision.K, c.Precision.N, math.Sqrt2*math.Erfinv(tc))
		}
		if c.Met != (lo >= target.Precision) || c.Met != (c.Verdict == Met) {
			t.Errorf("confidence %v: met %v verdict %s with bound %v on %d/%d", tc, c.Met, c.Verdict, lo, c.Precision.K, c.Precision.N)
		}
		if c.Met && c.Fallback != "" || !c.Met && c.Fallback == "" {
			t.Errorf("confidence %v: met %v with fallback %q", tc, c.Met, c.Fallback)
		}
		if prevTP > c.Precision.K {
			t.Errorf("confidence %v flags %d faulty, a higher confidence flagged %d", tc, c.Precision.K, prevTP)
		}
		prevTP = c.Precision.K
	}
	// At 0.95 the result is exactly Choose's.
	a, err := Choose([]int{10}, probs, y, target, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ChooseAt([]int{10}, probs, y, target, 3, DefaultConfidence)
	if err != nil {
		t.Fatal(err)
	}
	if a.Thresholds[0] != b.Thresholds[0] || a.Verdict != b.Verdict || a.Met {
		t.Errorf("Choose %v %s, ChooseAt 0.95 %v %s; want equal and not met (40 clean flags < 73)", a.Thresholds, a.Verdict, b.Thresholds, b.Verdict)
	}
	// The point estimate meets 0.95 with every faulty deploy and no false alarm.
	p, err := ChooseAt([]int{10}, probs, y, target, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Met || p.Precision.K != 40 || p.Precision.N != 40 {
		t.Errorf("point estimate: met %v with %d/%d, want met with 40/40", p.Met, p.Precision.K, p.Precision.N)
	}
	for _, bad := range []float64{-0.1, 0.3, 1, 1.5, math.NaN()} {
		if _, err := ChooseAt([]int{10}, probs, y, target, 3, bad); err == nil {
			t.Errorf("confidence %v accepted", bad)
		}
	}
}

// TestVerdictAtMatchesAssessAt95: at the default confidence the verdict is
// Target.Assess's, for both kinds of target.
func TestVerdictAtMatchesAssessAt95(t *testing.T) {
	z := confidenceZ(DefaultConfidence)
	for _, tg := range []Target{{Precision: 0.9}, {FalseAlarmsPerHealthy: 0.02}} {
		for tp := 0; tp < 30; tp += 3 {
			for fp := 0; fp < 6; fp++ {
				if got, want := verdictAt(tg, tp, fp, 300, z), tg.Assess(tp, fp, 300).Verdict; got != want {
					t.Errorf("%v tp %d fp %d: %s, Assess says %s", tg, tp, fp, got, want)
				}
			}
		}
	}
	// The general formula at z ≈ 1.96 agrees with metrics.Wilson's bound.
	lo, _ := wilsonZ(40, 40, math.Sqrt2*math.Erfinv(0.95))
	if math.Abs(lo-precisionLowerBound(40, 0)) > 1e-9 {
		t.Errorf("Wilson lower bound of 40/40 at 0.95: %v, metrics says %v", lo, precisionLowerBound(40, 0))
	}
}

// TestChoiceConfidenceJSON: a Choice round-trips its confidence, 0 (the
// point estimate) included, and one recorded without the key was judged at
// the default.
func TestChoiceConfidenceJSON(t *testing.T) {
	for _, c := range []float64{0, 0.8, 0.95} {
		b, err := json.Marshal(Choice{Confidence: c, Thresholds: []float64{0.5}})
		if err != nil {
			t.Fatal(err)
		}
		var back Choice
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Confidence != c || len(back.Thresholds) != 1 {
			t.Errorf("confidence %v: read back %+v from %s", c, back, b)
		}
	}
	var old Choice
	if err := json.Unmarshal([]byte(`{"target":{"precision":0.95},"target_met":true,"verdict":"met"}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Confidence != DefaultConfidence || !old.Met || old.Target.Precision != 0.95 {
		t.Errorf("old choice read as %+v", old)
	}
	// AssessAt: 40/40 meets 0.95 on the point estimate and at 0.80, not at 0.95.
	tg := Target{Precision: 0.95}
	for _, tc := range []struct {
		conf float64
		want string
	}{{0, Met}, {0.8, Met}, {0.95, Undecided}} {
		if got := AssessAt(tg, 40, 0, 100, tc.conf); got.Verdict != tc.want || got.Achieved.K != 40 {
			t.Errorf("AssessAt 40/40 at %v: %+v, want %s", tc.conf, got, tc.want)
		}
	}
}

// TestChooseExpectedHardLabels: with labels of 0 and 1 the expected counts
// are the counts, so ChooseExpected makes ChooseAt's choice at the point
// estimate whenever that meets the target.
func TestChooseExpectedHardLabels(t *testing.T) {
	horizons := []int{10, 20, 60}
	met := 0
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var probs [][]float64
		var y []float64
		for d := 0; d < 60; d++ {
			faulty := rng.Float64() < 0.3
			row := make([]float64, 3)
			for i := range row {
				v := rng.Float64()
				if faulty {
					v = math.Sqrt(v)
				}
				row[i] = math.Round(v*20) / 20
			}
			probs, y = append(probs, row), append(y, b2f(faulty))
		}
		for _, target := range []Target{{Precision: 0.6}, {Precision: 0.8}, {FalseAlarmsPerHealthy: 0.1}} {
			e, err := ChooseExpected(horizons, probs, y, target, 2)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ChooseAt(horizons, probs, y, target, 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			if e.Estimate != EstimateExpected || e.Met != p.Met {
				t.Errorf("seed %d %v: expected met %v (estimate %q), point met %v", seed, target, e.Met, e.Estimate, p.Met)
				continue
			}
			if p.Met {
				met++
				if e.Precision != p.Precision || e.Recall != p.Recall || e.MeanTimeToDetection != p.MeanTimeToDetection {
					t.Errorf("seed %d %v: expected %+v %+v, point %+v %+v", seed, target, e.Precision, e.Recall, p.Precision, p.Recall)
				}
			}
		}
	}
	if met == 0 {
		t.Error("no case met its target")
	}
}

// TestChooseExpectedDiscountsUnsureLabels: the top-scored deployments
// labelled faulty only at p 0.6 are three fifths of a fault each, so a
// precision target of 0.9 stops before them, where hard labels flag them.
func TestChooseExpectedDiscountsUnsureLabels(t *testing.T) {
	var probs [][]float64
	var y []float64
	add := func(p, label float64) { probs, y = append(probs, []float64{p}), append(y, label) }
	for i := range 10 {
		add(0.99-float64(i)/100, 1) // sure faults
	}
	for i := range 10 {
		add(0.80-float64(i)/100, 0.6) // unsure ones
	}
	for i := range 40 {
		add(0.5-float64(i)/100, 0)
	}
	target := Target{Precision: 0.9}
	e, err := ChooseExpected([]int{10}, probs, y, target, 2)
	if err != nil {
		t.Fatal(err)
	}
	// 10 sure + k unsure: (10 + 0.6k)/(10 + k) ≥ 0.9 holds up to k = 3.
	if !e.Met || e.Precision.N != 13 || math.Abs(float64(e.ExpectedPrecision)-11.8/13) > 1e-9 {
		t.Errorf("expected choice flags %d (expected precision %v, met %v), want 13", e.Precision.N, e.ExpectedPrecision, e.Met)
	}
	p, err := ChooseAt([]int{10}, probs, y, target, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Precision.N != 20 {
		t.Errorf("hard point choice flags %d, want all 20 labelled faulty", p.Precision.N)
	}
	// At a target no policy meets, the one with the highest expected
	// precision: 1.3 of 2 flags (0.65) beats 0.6 of 1.
	e, err = ChooseExpected([]int{10}, [][]float64{{0.9}, {0.8}, {0.7}}, []float64{0.6, 0.7, 0.2}, Target{Precision: 0.99}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e.Met || e.Fallback != FallbackMaxExpectedPrecision || e.Precision.N != 2 {
		t.Errorf("unreachable target: %+v", e)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
