package labelmodel

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// lfSpec is a synthetic labeling function: its class-conditional vote
// probabilities, and optionally a dependency on another function.
type lfSpec struct {
	name string
	// onPos: P(vote=1 | y=1), P(vote=0 | y=1).
	onPos [2]float64
	// onNeg: P(vote=0 | y=0), P(vote=1 | y=0).
	onNeg [2]float64
	// copyOf ≥ 0 makes the function repeat that (earlier) function's vote
	// with probability copyProb, and draw its own otherwise.
	copyOf   int
	copyProb float64
}

func lf(name string, pos1, pos0, neg0, neg1 float64) lfSpec {
	return lfSpec{name: name, onPos: [2]float64{pos1, pos0}, onNeg: [2]float64{neg0, neg1}, copyOf: -1}
}

// synth draws n rows: the truth and the vote matrix.
func synth(seed uint64, n int, prior float64, lfs []lfSpec) (*Matrix, []bool) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	m := &Matrix{}
	for _, s := range lfs {
		m.Names = append(m.Names, s.name)
		m.Cols = append(m.Cols, make([]int8, n))
	}
	truth := make([]bool, n)
	for i := range n {
		y := rng.Float64() < prior
		truth[i] = y
		for j, s := range lfs {
			if s.copyOf >= 0 && rng.Float64() < s.copyProb {
				m.Cols[j][i] = m.Cols[s.copyOf][i]
				continue
			}
			u := rng.Float64()
			v := Abstain
			if y {
				switch {
				case u < s.onPos[0]:
					v = Positive
				case u < s.onPos[0]+s.onPos[1]:
					v = Negative
				}
			} else {
				switch {
				case u < s.onNeg[0]:
					v = Negative
				case u < s.onNeg[0]+s.onNeg[1]:
					v = Positive
				}
			}
			m.Cols[j][i] = v
		}
	}
	return m, truth
}

// empirical returns the in-sample class-conditional vote rates and vote
// precisions of function j: the values a perfect estimator would find.
func empirical(m *Matrix, truth []bool, j int) (given [2][3]float64, posPrec, negPrec float64) {
	var cnt [2][3]float64
	var tot [2]float64
	for i, v := range m.Cols[j] {
		c := 0
		if truth[i] {
			c = 1
		}
		cnt[c][v+1]++
		tot[c]++
	}
	for c := range 2 {
		for v := range 3 {
			given[c][v] = cnt[c][v] / tot[c]
		}
	}
	posPrec = cnt[1][2] / (cnt[1][2] + cnt[0][2])
	negPrec = cnt[0][1] / (cnt[0][1] + cnt[1][1])
	return given, posPrec, negPrec
}

type scenario struct {
	name   string
	n      int
	prior  float64
	lfs    []lfSpec
	groups [][]string
	detect bool
	// wantGroups are the multi-function groups the fit must end with.
	wantGroups [][]string
}

func scenarios() []scenario {
	rollback := lf("rollback", 0.50, 0, 0, 0.006)
	shortLived := lf("short_lived", 0.40, 0, 0, 0.01)
	shortLivedCorr := shortLived
	shortLivedCorr.copyOf, shortLivedCorr.copyProb = 0, 0.85
	return []scenario{
		{
			name: "balanced two-sided", n: 50_000, prior: 0.30,
			lfs: []lfSpec{
				lf("a", 0.70, 0.10, 0.60, 0.10),
				lf("b", 0.50, 0.20, 0.70, 0.05),
				lf("c", 0.40, 0.30, 0.50, 0.30),
				lf("d", 0.80, 0.05, 0.40, 0.20),
				lf("e", 0.30, 0.10, 0.30, 0.05),
			},
			detect: true,
		},
		{
			name: "rare positives with one-sided functions", n: 50_000, prior: 0.04,
			lfs: []lfSpec{
				rollback,
				lf("incident", 0.35, 0, 0, 0.004),
				lf("ensemble", 0.60, 0.25, 0.75, 0.03),
				lf("new_signatures", 0.45, 0.15, 0.40, 0.05),
				lf("latency", 0.30, 0.20, 0.50, 0.04),
				lf("healthy_evidence", 0, 0.08, 0.75, 0),
			},
			detect: true,
		},
		{
			name: "rare positives with a declared correlated pair", n: 50_000, prior: 0.05,
			lfs: []lfSpec{
				rollback, shortLivedCorr,
				lf("incident", 0.35, 0, 0, 0.004),
				lf("ensemble", 0.60, 0.25, 0.75, 0.03),
				lf("latency", 0.30, 0.20, 0.50, 0.04),
				lf("healthy_evidence", 0, 0.08, 0.75, 0),
			},
			groups:     [][]string{{"rollback", "short_lived"}},
			detect:     false,
			wantGroups: [][]string{{"rollback", "short_lived"}},
		},
		{
			name: "rare positives with a detected correlated pair", n: 50_000, prior: 0.03,
			lfs: []lfSpec{
				rollback, shortLivedCorr,
				lf("incident", 0.35, 0, 0, 0.004),
				lf("ensemble", 0.60, 0.25, 0.75, 0.03),
				lf("latency", 0.30, 0.20, 0.50, 0.04),
				lf("healthy_evidence", 0, 0.08, 0.75, 0),
			},
			detect:     true,
			wantGroups: [][]string{{"rollback", "short_lived"}},
		},
	}
}

func TestFitRecoversSyntheticParameters(t *testing.T) {
	const tol = 0.03
	for si, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			m, truth := synth(uint64(100+si), sc.n, sc.prior, sc.lfs)
			cfg := DefaultConfig()
			cfg.Groups = sc.groups
			cfg.DetectDependencies = sc.detect
			mod, err := Fit(m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			info := mod.Info()
			t.Logf("patterns %d, iterations %d, converged %v, groups %v", info.Patterns, info.Iterations, info.Converged, info.Groups)
			if !info.Converged {
				t.Errorf("EM did not converge in %d iterations", info.Iterations)
			}
			if !slices.EqualFunc(info.Groups, sc.wantGroups, slices.Equal) {
				t.Errorf("groups %v, want %v", info.Groups, sc.wantGroups)
			}
			var pos int
			for _, y := range truth {
				if y {
					pos++
				}
			}
			balance := float64(pos) / float64(sc.n)
			if d := math.Abs(mod.ClassBalance() - balance); d > 0.2*balance {
				t.Errorf("class balance %.4f, true %.4f", mod.ClassBalance(), balance)
			}
			for j, e := range mod.Functions() {
				given, pp, np := empirical(m, truth, j)
				check := func(what string, got, want float64) {
					t.Helper()
					if math.IsNaN(want) != math.IsNaN(got) || math.Abs(got-want) > tol {
						t.Errorf("%s: %s = %.4f, true %.4f", e.Name, what, got, want)
					}
				}
				check("P(vote=1|y=1)", e.GivenPositive.Positive, given[1][2])
				check("P(vote=0|y=1)", e.GivenPositive.Negative, given[1][1])
				check("P(abstain|y=1)", e.GivenPositive.Abstain, given[1][0])
				check("P(vote=0|y=0)", e.GivenNegative.Negative, given[0][1])
				check("P(vote=1|y=0)", e.GivenNegative.Positive, given[0][2])
				check("P(abstain|y=0)", e.GivenNegative.Abstain, given[0][0])
				check("P(y=1|vote=1)", e.PositivePrecision, pp)
				check("P(y=0|vote=0)", e.NegativePrecision, np)
				t.Logf("%-16s %-8s P(1|1)=%.3f/%.3f P(0|0)=%.3f/%.3f prec+=%.3f/%.3f prec-=%.3f/%.3f",
					e.Name, e.Polarity, e.GivenPositive.Positive, given[1][2], e.GivenNegative.Negative, given[0][1],
					e.PositivePrecision, pp, e.NegativePrecision, np)
			}
			// The label model beats majority vote in accuracy and in AUC.
			p, lab, err := mod.Predict(m)
			if err != nil {
				t.Fatal(err)
			}
			mvScore, mvLab := MajorityVote(m)
			lmAcc, mvAcc := Count(lab, truth).Accuracy(), Count(mvLab, truth).Accuracy()
			lmAUC, mvAUC := AUC(p, truth), AUC(mvScore, truth)
			t.Logf("label model: accuracy %.4f AUC %.4f; majority vote: accuracy %.4f AUC %.4f", lmAcc, lmAUC, mvAcc, mvAUC)
			if !(lmAcc > mvAcc) {
				t.Errorf("label model accuracy %.4f does not beat majority vote %.4f", lmAcc, mvAcc)
			}
			if !(lmAUC > mvAUC) {
				t.Errorf("label model AUC %.4f does not beat majority vote %.4f", lmAUC, mvAUC)
			}
		})
	}
}

// Without its dependency group the correlated pair hijacks the latent class:
// the estimates go wrong. This guards the test above against passing for the
// wrong reason.
func TestIgnoringDependencyHurts(t *testing.T) {
	sc := scenarios()[3]
	m, truth := synth(103, sc.n, sc.prior, sc.lfs)
	cfg := DefaultConfig()
	cfg.DetectDependencies = false
	cfg.DuplicateAgreement = 0
	naive, err := Fit(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	given, _, _ := empirical(m, truth, 0)
	got := naive.Functions()[0].GivenPositive.Positive
	if math.Abs(got-given[1][2]) < 0.1 {
		t.Errorf("naive model estimates rollback P(vote=1|y=1) = %.3f close to the true %.3f; the scenario does not exercise dependencies", got, given[1][2])
	}
}

func TestSmallMatrixDoesNotMergeIndependentFunctions(t *testing.T) {
	lfs := scenarios()[1].lfs
	cfg := DefaultConfig()
	cfg.DetectDependencies = true
	for _, n := range []int{300, 2000} {
		m, _ := synth(7, n, 0.05, lfs)
		mod, err := Fit(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if g := mod.Info().Groups; len(g) != 0 {
			t.Errorf("n=%d: independent functions merged into %v", n, g)
		}
	}
}

func TestDeterministic(t *testing.T) {
	sc := scenarios()[3]
	var first []float64
	var firstInfo FitInfo
	cfg := DefaultConfig()
	cfg.DetectDependencies = true
	for run := range 3 {
		m, _ := synth(103, sc.n, sc.prior, sc.lfs)
		mod, p, _ := fitPredict(t, m, cfg)
		if run == 0 {
			first, firstInfo = p, mod.Info()
			continue
		}
		if !slices.Equal(p, first) {
			t.Fatalf("run %d: posteriors differ from run 0", run)
		}
		if info := mod.Info(); info.LogLikelihood != firstInfo.LogLikelihood || info.Iterations != firstInfo.Iterations ||
			!slices.Equal(info.Detected, firstInfo.Detected) {
			t.Fatalf("run %d: fit %+v differs from run 0 %+v", run, info, firstInfo)
		}
		if len(firstInfo.Detected) == 0 {
			t.Fatal("no dependency detected: the test does not exercise detection")
		}
	}
}

func TestAllAbstainRowsGetTheirShareAndNoLabel(t *testing.T) {
	m, _ := synth(9, 20_000, 0.05, scenarios()[1].lfs)
	// Blank every function on the first 100 rows.
	for _, c := range m.Cols {
		for i := range 100 {
			c[i] = Abstain
		}
	}
	mod, p, lab := fitPredict(t, m, DefaultConfig())
	q := mod.QuietPositive()
	if info := mod.Info(); info.AllAbstain < 100 || info.AllAbstainPositive != q {
		t.Errorf("fit info: %d all-abstain rows with P(positive) %v, want ≥ 100 with %v", info.AllAbstain, info.AllAbstainPositive, q)
	}
	// A row without a vote is never more likely positive than the rows
	// with one (quiet.go).
	if !(q > 0 && q <= mod.p.prior) {
		t.Errorf("all-abstain P(positive) %v, want in (0, %v]", q, mod.p.prior)
	}
	for i := range 100 {
		if lab[i] != Abstain || p[i] != q {
			t.Fatalf("row %d: all abstain but p=%v label=%d (want %v, -1)", i, p[i], lab[i], q)
		}
	}
	var labelled int
	for _, l := range lab[100:] {
		if l != Abstain {
			labelled++
		}
	}
	if labelled == 0 {
		t.Fatal("no row with votes was labelled")
	}
}

func TestOneSidedFunctions(t *testing.T) {
	m, _ := synth(11, 20_000, 0.05, scenarios()[1].lfs)
	mod, err := Fit(m, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rollback": "positive", "incident": "positive", "ensemble": "both", "healthy_evidence": "negative"}
	for _, e := range mod.Functions() {
		w, ok := want[e.Name]
		if !ok {
			continue
		}
		if e.Polarity != w {
			t.Errorf("%s: polarity %q, want %q", e.Name, e.Polarity, w)
		}
		switch w {
		case "positive":
			if !math.IsNaN(e.NegativePrecision) || e.GivenNegative.Negative != 0 || e.GivenPositive.Negative != 0 {
				t.Errorf("%s votes only positive but has a negative side: %+v", e.Name, e)
			}
		case "negative":
			if !math.IsNaN(e.PositivePrecision) || e.GivenNegative.Positive != 0 || e.GivenPositive.Positive != 0 {
				t.Errorf("%s votes only negative but has a positive side: %+v", e.Name, e)
			}
		}
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	good := []int8{1, 0, -1}
	cases := []struct {
		name string
		m    *Matrix
		cfg  func(*Config)
		want string
	}{
		{"no functions", &Matrix{}, nil, "no functions"},
		{"names mismatch", &Matrix{Names: []string{"a"}, Cols: [][]int8{good, good}}, nil, "2 columns"},
		{"duplicate name", &Matrix{Names: []string{"a", "a"}, Cols: [][]int8{good, good}}, nil, `"a" twice`},
		{"ragged", &Matrix{Names: []string{"a", "b"}, Cols: [][]int8{good, good[:2]}}, nil, `"b" has 2 votes`},
		{"bad vote", &Matrix{Names: []string{"a", "b"}, Cols: [][]int8{good, {1, 2, 0}}}, nil, `"b", row 1: vote 2`},
		{"no rows", &Matrix{Names: []string{"a"}, Cols: [][]int8{{}}}, nil, "no rows"},
		{"unknown group member", &Matrix{Names: []string{"a", "b"}, Cols: [][]int8{good, good}},
			func(c *Config) { c.Groups = [][]string{{"a", "zz"}} }, `unknown function "zz"`},
		{"function in two groups", &Matrix{Names: []string{"a", "b", "c"}, Cols: [][]int8{good, good, good}},
			func(c *Config) { c.Groups = [][]string{{"a", "b"}, {"b", "c"}} }, `"b" is in two groups`},
		{"bad threshold", &Matrix{Names: []string{"a"}, Cols: [][]int8{good}},
			func(c *Config) { c.Threshold = 1 }, "threshold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := Fit(tc.m, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPredictRejectsOtherFunctions(t *testing.T) {
	m, _ := synth(1, 1000, 0.1, scenarios()[0].lfs)
	mod, err := Fit(m, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	other := &Matrix{Names: slices.Clone(m.Names), Cols: m.Cols}
	other.Names[0] = "zz"
	if _, _, err := mod.Predict(other); err == nil {
		t.Fatal("Predict accepted a matrix with other functions")
	}
}

func TestAUC(t *testing.T) {
	cases := []struct {
		score []float64
		truth []bool
		want  float64
	}{
		{[]float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{[]float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{[]float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5},
		// One positive above one of two negatives, tied with the other.
		{[]float64{0.3, 0.5, 0.5}, []bool{false, false, true}, 0.75},
		{[]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75},
	}
	for i, tc := range cases {
		if got := AUC(tc.score, tc.truth); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("case %d: AUC %v, want %v", i, got, tc.want)
		}
	}
	if got := AUC([]float64{1, 2}, []bool{true, true}); !math.IsNaN(got) {
		t.Errorf("AUC with one class = %v, want NaN", got)
	}
}

func TestMajorityVote(t *testing.T) {
	m := &Matrix{Names: []string{"a", "b", "c"}, Cols: [][]int8{
		{1, 1, 0, -1, 1},
		{1, 0, 0, -1, -1},
		{0, -1, -1, -1, 0},
	}}
	score, lab := MajorityVote(m)
	wantScore := []float64{2.0 / 3, 0.5, 0, 0.5, 0.5}
	wantLab := []int8{1, 0, 0, -1, 0}
	if !slices.Equal(score, wantScore) || !slices.Equal(lab, wantLab) {
		t.Fatalf("majority vote %v %v, want %v %v", score, lab, wantScore, wantLab)
	}
}

// Functions that always abstain must not change anything, however many
// there are (50 functions here: more than the 40 the model once allowed).
func TestSilentFunctionsChangeNothing(t *testing.T) {
	m, truth := synth(21, 5000, 0.1, scenarios()[1].lfs)
	wide := &Matrix{Names: slices.Clone(m.Names), Cols: slices.Clone(m.Cols)}
	for j := len(wide.Cols); j < 50; j++ {
		c := make([]int8, m.Rows())
		for i := range c {
			c[i] = Abstain
		}
		wide.Names = append(wide.Names, "silent"+strconv.Itoa(j))
		wide.Cols = append(wide.Cols, c)
	}
	cfg := DefaultConfig()
	cfg.DetectDependencies = false
	a, err := Fit(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(wide, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pa, la, _ := a.Predict(m)
	pb, lb, _ := b.Predict(wide)
	for i := range pa {
		if math.Abs(pa[i]-pb[i]) > 1e-9 || la[i] != lb[i] {
			t.Fatalf("row %d: %v/%d with %d functions, %v/%d with %d", i, pa[i], la[i], len(m.Cols), pb[i], lb[i], len(wide.Cols))
		}
	}
	if w := b.Info().Warnings; len(w) == 0 || !strings.Contains(strings.Join(w, ";"), "never votes") {
		t.Errorf("warnings %v, want the silent functions flagged", w)
	}
	if AUC(pb, truth) < 0.9 {
		t.Errorf("AUC %.3f", AUC(pb, truth))
	}
}

// fitPredict fits the label model to m with cfg and predicts m.
func fitPredict(t *testing.T, m *Matrix, cfg Config) (*Model, []float64, []int8) {
	t.Helper()
	mod, err := Fit(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, lab, err := mod.Predict(m)
	if err != nil {
		t.Fatal(err)
	}
	return mod, p, lab
}

// newMatrix is an n-row vote matrix of the named functions, every vote
// zero.
func newMatrix(names []string, n int) *Matrix {
	m := &Matrix{Names: names, Cols: make([][]int8, len(names))}
	for j := range m.Cols {
		m.Cols[j] = make([]int8, n)
	}
	return m
}
