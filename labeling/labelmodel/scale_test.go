package labelmodel

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

// EM over the rows (too many distinct patterns to compress) runs in
// parallel blocks whose sums are added in a fixed order: the fit must not
// depend on the number of workers.
func TestRowModeDeterministicAcrossWorkers(t *testing.T) {
	m, _ := synth(8, 3*blockUnits+123, 0.15, randomSpecs(8, 100, 0.15))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first []float64
	var firstInfo FitInfo
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		mod, p, _ := fitPredict(t, m, DefaultConfig())
		info := mod.Info()
		if info.Patterns != 0 {
			t.Fatalf("%d distinct patterns: the test does not exercise EM over the rows", info.Patterns)
		}
		if first == nil {
			first, firstInfo = p, info
			continue
		}
		if !slices.Equal(p, first) || info.LogLikelihood != firstInfo.LogLikelihood || info.Iterations != firstInfo.Iterations {
			t.Fatalf("GOMAXPROCS %d: fit differs from GOMAXPROCS 1 (log-likelihood %v vs %v)", procs, info.LogLikelihood, firstInfo.LogLikelihood)
		}
	}
}

// EM over the distinct patterns (weighted by their counts) and EM over the
// rows reach the same fit.
func TestPatternsAndRowsAgree(t *testing.T) {
	m, _ := synth(9, 100_000, 0.05, benchFunctions())
	cfg := DefaultConfig()
	sup, err := m.scan()
	if err != nil {
		t.Fatal(err)
	}
	factors := buildFactors(len(m.Cols), nil, nil, nil, sup)
	e := newEngine(cfg, sup, factors)
	full := pack(m.Cols, m.Rows(), sup, factors)
	ps := dedup(full, false)
	if ps == nil {
		t.Fatal("matrix not compressed")
	}
	pat := newDataset(full.gather(ps.first), ps.counts, factors)
	rows := newDataset(full, nil, factors)
	a := e.em(pat, nil, e.majority(pat.pk))
	b := e.em(rows, nil, e.majority(rows.pk))
	t.Logf("patterns: %d units, %d iterations, log-likelihood %.6f; rows: %d iterations, log-likelihood %.6f",
		len(ps.first), a.iterations, a.ll, b.iterations, b.ll)
	if math.Abs(a.ll-b.ll) > 1e-6*math.Abs(a.ll) || math.Abs(a.p.prior-b.p.prior) > 1e-9 {
		t.Errorf("patterns: log-likelihood %v, balance %v; rows: %v, %v", a.ll, a.p.prior, b.ll, b.p.prior)
	}
	for fi := range factors {
		for c := range 2 {
			for s := range a.p.theta[fi][c] {
				if d := math.Abs(a.p.theta[fi][c][s] - b.p.theta[fi][c][s]); d > 1e-9 {
					t.Errorf("factor %d class %d state %d: %v vs %v", fi, c, s, a.p.theta[fi][c][s], b.p.theta[fi][c][s])
				}
			}
		}
	}
}

// Dependency detection over many functions finishes (it once took more
// than ten minutes at 40 functions) and finds the planted copies.
func TestDetectionOnManyFunctions(t *testing.T) {
	lfs := randomSpecs(10, 60, 0.2)
	lfs[59] = copyOf(lfs[59], 3, 0.95)
	lfs[58] = copyOf(lfs[58], 3, 0.95)
	m, truth := synth(10, 20_000, 0.2, lfs)
	cfg := DefaultConfig()
	cfg.DetectDependencies = true
	mod, err := Fit(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info := mod.Info()
	t.Logf("groups %v, detected %v", info.Groups, info.Detected)
	found := false
	for _, g := range info.Groups {
		if slices.Contains(g, "lf003") && slices.Contains(g, "lf058") && slices.Contains(g, "lf059") {
			found = true
		}
	}
	if !found {
		t.Errorf("groups %v: the copies of lf003 were not found", info.Groups)
	}
	p, lab, err := mod.Predict(m)
	if err != nil {
		t.Fatal(err)
	}
	mvScore, mvLab := MajorityVote(m)
	t.Logf("label model accuracy %.4f AUC %.4f; majority vote %.4f %.4f", Count(lab, truth).Accuracy(), AUC(p, truth), Count(mvLab, truth).Accuracy(), AUC(mvScore, truth))
	if !(Count(lab, truth).Accuracy() >= Count(mvLab, truth).Accuracy() && AUC(p, truth) >= AUC(mvScore, truth)) {
		t.Error("label model below majority vote")
	}
}

// A declared group of six functions (noisy copies of one) has 3^6 joint
// states per class: its codes take two bytes.
func TestLargeDeclaredGroup(t *testing.T) {
	lfs := []lfSpec{twoSided("a", 0.7, 0.7)}
	group := []string{"a"}
	for i := 1; i < 6; i++ {
		name := string(rune('a' + i))
		lfs = append(lfs, copyOf(twoSided(name, 0.6, 0.7), 0, 0.8))
		group = append(group, name)
	}
	lfs = append(lfs, posOnly("p", 0.1, 0.9, 0.3), negOnly("q", 0.2, 0.95, 0.3), twoSided("r", 0.5, 0.75))
	m, truth := synth(12, 20_000, 0.3, lfs)
	cfg := DefaultConfig()
	cfg.MaxGroupSize = 6
	cfg.Groups = [][]string{group}
	mod, err := Fit(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(mod.factors, func(f *factor) bool { return f.states > 256 }) {
		t.Fatal("no factor with more than 256 states: the test does not exercise two-byte codes")
	}
	p, lab, err := mod.Predict(m)
	if err != nil {
		t.Fatal(err)
	}
	mvScore, mvLab := MajorityVote(m)
	lmAcc, mvAcc := Count(lab, truth).Accuracy(), Count(mvLab, truth).Accuracy()
	lmAUC, mvAUC := AUC(p, truth), AUC(mvScore, truth)
	t.Logf("groups %v, class balance %.3f; label model accuracy %.4f AUC %.4f; majority vote %.4f %.4f", mod.Info().Groups, mod.ClassBalance(), lmAcc, lmAUC, mvAcc, mvAUC)
	if !(lmAcc >= mvAcc && lmAUC >= mvAUC) {
		t.Error("label model below majority vote")
	}
}

// A vote a function never cast in fitting makes its factor neutral in
// Predict: the row's log-odds are those of the other factors.
func TestPredictUnseenVote(t *testing.T) {
	m, _ := synth(13, 5000, 0.3, []lfSpec{posOnly("a", 0.2, 0.9, 0.3), twoSided("b", 0.6, 0.8), twoSided("c", 0.5, 0.75), negOnly("d", 0.3, 0.9, 0.3)})
	mod, err := Fit(m, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	probe := &Matrix{Names: m.Names, Cols: [][]int8{{Negative, Positive}, {Positive, Positive}, {Abstain, Abstain}, {Abstain, Abstain}}}
	p, lab, err := mod.Predict(probe)
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: a votes negative (never seen), so only b, c and d count.
	lo := func(q float64) float64 { return math.Log(q / (1 - q)) }
	f := mod.p.theta
	var want float64 = lo(mod.p.prior)
	for fi, fc := range mod.factors {
		j := fc.members[0]
		if j == 0 {
			continue
		}
		l := mod.sup[j].local[vix(probe.Cols[j][0])]
		want += math.Log(f[fi][1][l]) - math.Log(f[fi][0][l])
	}
	if got := lo(p[0]); math.Abs(got-want) > 1e-9 || lab[0] == Abstain {
		t.Errorf("row 0: log-odds %v, want %v (label %d)", got, want, lab[0])
	}
	if !(p[1] > p[0]) {
		t.Errorf("a positive vote of a (%v) should raise P(positive) above its unseen negative vote (%v)", p[1], p[0])
	}
}
