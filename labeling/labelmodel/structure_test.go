package labelmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// posOnly is a function that votes only positive, on a share cov of the
// rows, right a share prec of the time, on a matrix with class balance
// prior.
func posOnly(name string, cov, prec, prior float64) lfSpec {
	return lf(name, prec*cov/prior, 0, 0, (1-prec)*cov/(1-prior))
}

// negOnly is the negative-only counterpart of posOnly.
func negOnly(name string, cov, prec, prior float64) lfSpec {
	return lf(name, 0, (1-prec)*cov/prior, prec*cov/(1-prior), 0)
}

// twoSided votes on a share cov of the rows of either class and is right a
// share acc of the time on both.
func twoSided(name string, cov, acc float64) lfSpec {
	return lf(name, cov*acc, cov*(1-acc), cov*acc, cov*(1-acc))
}

// copyOf makes s repeat function j's vote with probability q.
func copyOf(s lfSpec, j int, q float64) lfSpec {
	s.copyOf, s.copyProb = j, q
	return s
}

// randomSpecs draws k functions deterministically: 40 % positive-only,
// 30 % negative-only, 30 % two-sided; coverage log-uniform in [0.005,
// 0.2]; the likelihood ratio of each vote for the class it names
// log-uniform in [1.2, 8] (weak functions: none decides a row alone).
func randomSpecs(seed uint64, k int, prior float64) []lfSpec {
	rng := rand.New(rand.NewPCG(seed, 0xf00d))
	logU := func(lo, hi float64) float64 { return lo * math.Exp(rng.Float64()*math.Log(hi/lo)) }
	// side returns P(vote | its class), P(vote | other class) for a vote
	// whose class has share pc, covering cov of the rows.
	side := func(cov, lr, pc float64) (float64, float64) {
		b := cov / (pc*lr + 1 - pc)
		a := lr * b
		if a > 0.95 {
			b *= 0.95 / a
			a = 0.95
		}
		return a, b
	}
	out := make([]lfSpec, k)
	for j := range out {
		name := fmt.Sprintf("lf%03d", j)
		cov, lr := logU(0.005, 0.2), logU(1.2, 8)
		switch u := rng.Float64(); {
		case u < 0.4:
			a, b := side(cov, lr, prior)
			out[j] = lf(name, a, 0, 0, b)
		case u < 0.7:
			a, b := side(cov, lr, 1-prior)
			out[j] = lf(name, 0, b, a, 0)
		default:
			a1, b1 := side(cov/2, lr, prior)
			a0, b0 := side(cov/2, logU(1.2, 8), 1-prior)
			out[j] = lf(name, a1, b0, a0, b1)
		}
	}
	return out
}

// youtubeLike is shaped like WRENCH youtube (spam comments): 10 functions,
// 1,700 rows, balanced classes, mixed coverage and accuracy, eight of them
// one-sided, and a keyword function that often fires with another.
func youtubeLike() (uint64, int, float64, []lfSpec) {
	const prior = 0.5
	return 31, 1700, prior, []lfSpec{
		posOnly("keyword_my", 0.20, 0.85, prior),
		posOnly("keyword_subscribe", 0.13, 0.95, prior),
		posOnly("keyword_link", 0.12, 0.97, prior),
		posOnly("keyword_please", 0.10, 0.93, prior),
		copyOf(posOnly("regex_check_out", 0.22, 0.92, prior), 1, 0.3),
		negOnly("keyword_song", 0.20, 0.80, prior),
		negOnly("short_comment", 0.22, 0.78, prior),
		negOnly("has_person", 0.06, 0.75, prior),
		twoSided("polarity", 0.10, 0.85),
		twoSided("subjectivity", 0.35, 0.62),
	}
}

// smsLike is shaped like WRENCH sms (spam messages): 73 sparse keyword
// functions, most voting spam only, each on 0.2–5 % of the rows, about
// 4,500 rows with 13 % positives.
func smsLike() (uint64, int, float64, []lfSpec) {
	const prior = 0.13
	rng := rand.New(rand.NewPCG(73, 0x5a5))
	var lfs []lfSpec
	for j := range 58 {
		lfs = append(lfs, posOnly(fmt.Sprintf("spam%02d", j), 0.002+0.018*rng.Float64(), 0.7+0.29*rng.Float64(), prior))
	}
	for j := range 15 {
		lfs = append(lfs, negOnly(fmt.Sprintf("ham%02d", j), 0.005+0.045*rng.Float64(), 0.9+0.095*rng.Float64(), prior))
	}
	return 73, 4500, prior, lfs
}

type structured struct {
	name  string
	seed  uint64
	n     int
	prior float64
	lfs   []lfSpec
	cfg   func(*Config)
	// check makes scenario-specific assertions.
	check func(t *testing.T, mod *Model)
}

func structuredScenarios() []structured {
	// Six independent functions and three noisy copies of "c".
	copies := []lfSpec{
		twoSided("a", 0.7, 0.80),
		twoSided("b", 0.6, 0.75),
		twoSided("c", 0.8, 0.70),
		posOnly("d", 0.15, 0.90, 0.3),
		negOnly("e", 0.30, 0.90, 0.3),
		twoSided("f", 0.5, 0.72),
	}
	for i := range 3 {
		copies = append(copies, copyOf(twoSided(fmt.Sprintf("c_copy%d", i+1), 0.8, 0.70), 2, 0.9))
	}
	precise := []lfSpec{
		twoSided("broad1", 0.90, 0.68),
		twoSided("broad2", 0.85, 0.65),
		twoSided("broad3", 0.80, 0.70),
	}
	for i := range 5 {
		precise = append(precise, posOnly(fmt.Sprintf("precise_pos%d", i), 0.02+0.01*float64(i), 0.97, 0.3))
	}
	for i := range 3 {
		precise = append(precise, negOnly(fmt.Sprintf("precise_neg%d", i), 0.03, 0.98, 0.3))
	}
	rare := []lfSpec{
		posOnly("rollback", 0.012, 0.80, 0.02),
		posOnly("incident", 0.008, 0.85, 0.02),
		twoSided("ensemble", 0.9, 0.9),
		posOnly("new_signatures", 0.02, 0.45, 0.02),
		posOnly("latency", 0.01, 0.5, 0.02),
		posOnly("short_lived", 0.30, 0.04, 0.02),
		negOnly("healthy_evidence", 0.3, 0.995, 0.02),
		twoSided("error_rate", 0.6, 0.8),
	}
	yS, yN, yP, yL := youtubeLike()
	sS, sN, sP, sL := smsLike()
	grouped := func(name string) func(t *testing.T, mod *Model) {
		return func(t *testing.T, mod *Model) {
			for _, g := range mod.Info().Groups {
				if slices.Contains(g, name) {
					return
				}
			}
			t.Errorf("groups %v: none holds %s and its copies", mod.Info().Groups, name)
		}
	}
	detect := func(c *Config) { c.DetectDependencies = true }
	return []structured{
		{name: "correlated copies", seed: 1, n: 20_000, prior: 0.3, lfs: copies},
		{name: "correlated copies, detection on", seed: 1, n: 20_000, prior: 0.3, lfs: copies, cfg: detect, check: grouped("c")},
		{name: "low-coverage high-precision", seed: 2, n: 20_000, prior: 0.3, lfs: precise},
		{name: "rare positives 2%", seed: 3, n: 50_000, prior: 0.02, lfs: rare},
		{name: "120 functions", seed: 4, n: 20_000, prior: 0.2, lfs: randomSpecs(4, 120, 0.2)},
		{name: "200 functions", seed: 5, n: 10_000, prior: 0.1, lfs: randomSpecs(5, 200, 0.1)},
		{name: "youtube-like", seed: yS, n: yN, prior: yP, lfs: yL},
		{name: "youtube-like, detection on", seed: yS, n: yN, prior: yP, lfs: yL, cfg: detect},
		{name: "sms-like", seed: sS, n: sN, prior: sP, lfs: sL},
		{name: "sms-like, detection on", seed: sS, n: sN, prior: sP, lfs: sL, cfg: detect},
	}
}

// On matrices with known structure the label model is at least as good as
// majority vote in accuracy (rows with a vote) and in AUC.
func TestStructuredMatricesAtLeastMajorityVote(t *testing.T) {
	for _, sc := range structuredScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			m, truth := synth(sc.seed, sc.n, sc.prior, sc.lfs)
			cfg := DefaultConfig()
			if sc.cfg != nil {
				sc.cfg(&cfg)
			}
			mod, err := Fit(m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			info := mod.Info()
			if !info.Converged {
				t.Errorf("EM did not converge in %d iterations", info.Iterations)
			}
			p, lab, err := mod.Predict(m)
			if err != nil {
				t.Fatal(err)
			}
			var pos int
			for _, y := range truth {
				if y {
					pos++
				}
			}
			mvScore, mvLab := MajorityVote(m)
			lm, mv := Count(lab, truth), Count(mvLab, truth)
			lmAUC, mvAUC := AUC(p, truth), AUC(mvScore, truth)
			t.Logf("%d functions × %d rows, patterns %d, iterations %d, groups %v; class balance %.4f (true %.4f)",
				len(m.Cols), m.Rows(), info.Patterns, info.Iterations, info.Groups, mod.ClassBalance(), float64(pos)/float64(len(truth)))
			t.Logf("label model   accuracy %.4f AUC %.4f F1 %.4f", lm.Accuracy(), lmAUC, lm.F1())
			t.Logf("majority vote accuracy %.4f AUC %.4f F1 %.4f", mv.Accuracy(), mvAUC, mv.F1())
			if !(lm.Accuracy() >= mv.Accuracy()) {
				t.Errorf("label model accuracy %.4f below majority vote's %.4f", lm.Accuracy(), mv.Accuracy())
			}
			if !(lmAUC >= mvAUC) {
				t.Errorf("label model AUC %.4f below majority vote's %.4f", lmAUC, mvAUC)
			}
			if sc.check != nil {
				sc.check(t, mod)
			}
		})
	}
}

// subtypeMatrix draws rows whose functions depend on each other within a
// class: every row has a class and a sub-type of it (say, spam that
// promotes a channel, spam with a link, other spam; ham about the song,
// short ham, other ham), and each function fires with a probability that
// depends on the sub-type, so functions reading the same sub-type fire
// together beyond what the class explains — the way keyword functions
// over real text do.
func subtypeMatrix(seed uint64, n int) (*Matrix, []bool) {
	rng := rand.New(rand.NewPCG(seed, 0x7ab))
	type fn struct {
		name string
		vote int8
		// fire[y][z]: P(vote | class y, sub-type z).
		fire [2][3]float64
	}
	fns := []fn{
		{"keyword_my", Positive, [2][3]float64{{0.02, 0.04, 0.05}, {0.60, 0.05, 0.10}}},
		{"keyword_subscribe", Positive, [2][3]float64{{0.01, 0.01, 0.02}, {0.55, 0.02, 0.05}}},
		{"regex_check_out", Positive, [2][3]float64{{0.02, 0.01, 0.03}, {0.50, 0.10, 0.08}}},
		{"keyword_link", Positive, [2][3]float64{{0.01, 0.00, 0.02}, {0.05, 0.70, 0.05}}},
		{"keyword_please", Positive, [2][3]float64{{0.02, 0.01, 0.03}, {0.20, 0.30, 0.10}}},
		{"keyword_song", Negative, [2][3]float64{{0.55, 0.10, 0.10}, {0.05, 0.02, 0.04}}},
		{"short_comment", Negative, [2][3]float64{{0.10, 0.70, 0.15}, {0.02, 0.10, 0.20}}},
		{"has_person", Negative, [2][3]float64{{0.25, 0.02, 0.05}, {0.03, 0.01, 0.05}}},
		{"polarity", Negative, [2][3]float64{{0.20, 0.05, 0.10}, {0.02, 0.02, 0.03}}},
		{"subjectivity", Negative, [2][3]float64{{0.40, 0.30, 0.30}, {0.25, 0.10, 0.30}}},
	}
	m := &Matrix{}
	for _, f := range fns {
		m.Names = append(m.Names, f.name)
		m.Cols = append(m.Cols, make([]int8, n))
	}
	truth := make([]bool, n)
	for i := range n {
		y := 0
		if rng.Float64() < 0.5 {
			y = 1
		}
		truth[i] = y == 1
		z := 2
		switch u := rng.Float64(); {
		case u < 0.4:
			z = 0
		case u < 0.7:
			z = 1
		}
		for j, f := range fns {
			m.Cols[j][i] = Abstain
			if rng.Float64() < f.fire[y][z] {
				m.Cols[j][i] = f.vote
			}
		}
	}
	return m, truth
}

// Functions that depend on each other through sub-types of a class are
// the case a two-class model cannot resolve alone. Fitted with the rows
// without any vote, EM under independence found a sub-type (class balance
// 0.24–0.32, true 0.5) and fell below majority vote; fitted on the rows
// with a vote (quiet.go), it finds 0.38–0.44 and beats majority vote, and
// so must the defaults. Searching all dependencies links functions of one
// sub-type and makes it worse: the defaults must leave such co-firing
// alone (only near-duplicates are modelled), so they are no worse than
// independence; given the class balance, the model is at least as good as
// majority vote.
func TestSubtypeDependencies(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		m, truth := subtypeMatrix(seed, 1700)
		mvScore, mvLab := MajorityVote(m)
		mvAcc, mvAUC := Count(mvLab, truth).Accuracy(), AUC(mvScore, truth)
		type run struct {
			name string
			cfg  func(*Config)
		}
		var acc, auc []float64
		for _, r := range []run{
			{"defaults", nil},
			{"independent", func(c *Config) { c.DuplicateAgreement = 0 }},
			{"all dependencies searched", func(c *Config) { c.DetectDependencies = true }},
			{"class_balance 0.5", func(c *Config) { c.ClassBalance = 0.5 }},
		} {
			cfg := DefaultConfig()
			if r.cfg != nil {
				r.cfg(&cfg)
			}
			mod, p, lab := fitPredict(t, m, cfg)
			acc, auc = append(acc, Count(lab, truth).Accuracy()), append(auc, AUC(p, truth))
			t.Logf("seed %d, %-26s accuracy %.4f AUC %.4f class balance %.3f groups %v", seed, r.name+":", acc[len(acc)-1], auc[len(auc)-1], mod.ClassBalance(), mod.Info().Groups)
		}
		t.Logf("seed %d, majority vote:              accuracy %.4f AUC %.4f", seed, mvAcc, mvAUC)
		if acc[0] < acc[1] || auc[0] < auc[1] {
			t.Errorf("seed %d: defaults (accuracy %.4f, AUC %.4f) worse than independence (%.4f, %.4f)", seed, acc[0], auc[0], acc[1], auc[1])
		}
		if !(acc[0] >= mvAcc && auc[0] >= mvAUC) {
			t.Errorf("seed %d: defaults' accuracy %.4f AUC %.4f below majority vote's %.4f %.4f", seed, acc[0], auc[0], mvAcc, mvAUC)
		}
		if !(acc[3] >= mvAcc && auc[3] >= mvAUC) {
			t.Errorf("seed %d: with the class balance given, accuracy %.4f AUC %.4f below majority vote's %.4f %.4f", seed, acc[3], auc[3], mvAcc, mvAUC)
		}
	}
}
