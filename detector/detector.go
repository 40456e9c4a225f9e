// Package detector is what an online detector service imports to run a
// Faultline model: it loads an export bundle (refusing it when a checksum
// or the feature schema does not match this build), computes a deploy's
// features from a live window with package features — the very code the
// offline extractor runs, so there is no training/serving skew — and returns
// per-horizon P(faulty), the sequential policy's verdict and the features
// that pushed the score most.
//
//	d, err := detector.Load("faultline-production.tar.gz")
//	...
//	res, err := d.Evaluate(input, time.Now()) // input: a features.Input
//	switch res.Verdict { case detector.Faulty: ... }
//
// Inference goes through github.com/dmitryikh/leaves: P(faulty) is the
// sigmoid of the model's raw score, calibrated by the bundle policy's
// calibrator when it has one (decisions are taken on the model's own
// probability, the scale training chose the thresholds on). Reasons are Saabas path attributions:
// along the path the row takes through each tree, every split moves the
// expected output from the node's value to the child's, and that change is
// credited to the split's feature. Bias plus contributions equals the raw
// score exactly — except for the features a model is monotone in
// (monotone_constraints): their contribution is how much the raw score
// moved from the feature's least alarming training value to the row's,
// so that a fault signal never counts towards healthy.
package detector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/models/lightgbm"
	"github.com/faultline-dev/faultline/models/policy"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// Verdicts.
const (
	Faulty       = "faulty"
	Healthy      = "healthy"
	Inconclusive = "inconclusive"
)

// ErrSchemaMismatch is returned (wrapped) by Load when the bundle's feature
// schema is not the one compiled into this build, or a model reads features
// the schema does not have. It is lightgbm.ErrSchemaMismatch.
var ErrSchemaMismatch = lightgbm.ErrSchemaMismatch

// Schema returns the feature schema compiled into this build.
func Schema() bundle.Schema {
	return bundle.Schema{Version: features.SchemaVersion, Hash: features.SchemaHash(), Names: features.Names()}
}

// Detector scores deploys with one bundle's models. It is safe for
// concurrent use.
type Detector struct {
	manifest   bundle.Manifest
	cfg        features.Config
	horizons   []int
	thresholds map[int]float64
	policy     policy.Policy
	models     map[int]*model
}

type model struct {
	raw    *leaves.Ensemble
	leaf   *leaves.Ensemble
	struc  *lightgbm.Model
	nTrees int
	// cols[j] is the schema column of the model's input j: models may be
	// trained on a subset of the schema, named by their feature_names.
	cols []int
	// ref[j] is the reference value of input j when the model is monotone
	// in it (see monotoneRefs), NaN otherwise.
	ref []float64
}

// input picks the model's input columns out of a schema-ordered row.
func (m *model) input(row []float64) []float64 {
	in := make([]float64, len(m.cols))
	for j, c := range m.cols {
		in[j] = row[c]
	}
	return in
}

// Load reads and verifies the bundle at path.
func Load(path string) (*Detector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	defer f.Close()
	d, err := LoadReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// LoadReader reads and verifies a bundle from r.
func LoadReader(r io.Reader) (*Detector, error) {
	b, err := bundle.Read(r)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	return New(b)
}

// New builds a detector from a bundle already read (and so verified) by
// bundle.Read, or assembled from the registry. It refuses a feature schema
// other than this build's, and feature settings whose hash does not match
// the one recorded.
func New(b *bundle.Bundle) (*Detector, error) {
	m := b.Manifest
	want := Schema()
	got := m.FeatureSchema
	if !slices.Equal(got.Names, want.Names) {
		return nil, fmt.Errorf("detector: %w: bundle %s@%d was trained on schema %s (%d features), this build computes %s (%d features)%s; retrain or use a matching build",
			ErrSchemaMismatch, m.Model, m.Version, got.Version, len(got.Names), want.Version, len(want.Names), diff(got.Names, want.Names))
	}
	if got.Hash != "" && got.Hash != want.Hash {
		return nil, fmt.Errorf("detector: %w: bundle schema hash %s, this build's %s", ErrSchemaMismatch, got.Hash, want.Hash)
	}
	cfg := features.DefaultConfig()
	if len(got.Config) > 0 {
		var err error
		if cfg, err = features.DecodeConfig(got.Config); err != nil {
			return nil, fmt.Errorf("detector: feature settings in the bundle: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("detector: feature settings in the bundle: %w", err)
	}
	if got.ConfigHash != "" && got.ConfigHash != cfg.ConfigHash() {
		return nil, fmt.Errorf("detector: %w: the bundle's feature settings hash to %s, the bundle records %s", ErrSchemaMismatch, cfg.ConfigHash(), got.ConfigHash)
	}
	d := &Detector{manifest: m, cfg: cfg, horizons: slices.Clone(m.Horizons), thresholds: map[int]float64{}, models: map[int]*model{}}
	sort.Ints(d.horizons)
	for _, h := range d.horizons {
		data, ok := b.Model(h)
		if !ok {
			return nil, fmt.Errorf("detector: no model for horizon %d", h)
		}
		md, err := loadModel(data, want.Names)
		if err != nil {
			return nil, fmt.Errorf("detector: %s: %w", bundle.ModelFileName(h), err)
		}
		d.models[h] = md
		t, ok := m.Thresholds[h]
		if !ok {
			return nil, fmt.Errorf("detector: no threshold for horizon %d", h)
		}
		d.thresholds[h] = t
		d.policy.Horizons = append(d.policy.Horizons, h)
		d.policy.Thresholds = append(d.policy.Thresholds, t)
	}
	if len(m.Policy) > 0 && string(m.Policy) != "null" {
		var p policy.Policy
		if err := json.Unmarshal(m.Policy, &p); err == nil && p.Validate() == nil {
			for _, h := range p.Horizons {
				if d.models[h] == nil {
					return nil, fmt.Errorf("detector: the policy looks at %d min but the bundle has no model for it", h)
				}
			}
			d.policy = p
		}
	}
	if err := d.policy.Validate(); err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	return d, nil
}

func diff(a, b []string) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("; column %d is %q in the bundle, %q here", i, a[i], b[i])
		}
	}
	return ""
}

// loadModel reads a model with leaves (inference) and lightgbm.Load (its
// structure, for reasons, and the check that it reads schema features).
func loadModel(data []byte, names []string) (*model, error) {
	raw, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false)
	if err != nil {
		return nil, fmt.Errorf("load LightGBM model: %w", err)
	}
	st, cols, err := lightgbm.Load(data, names)
	if err != nil {
		return nil, fmt.Errorf("read model structure: %w", err)
	}
	if len(st.Trees) != raw.NEstimators() {
		return nil, fmt.Errorf("model structure has %d trees, leaves read %d", len(st.Trees), raw.NEstimators())
	}
	return &model{raw: raw, leaf: raw.EnsembleWithLeafPredictions(), struc: st, nTrees: raw.NEstimators(), cols: cols,
		ref: monotoneRefs(st)}, nil
}

// monotoneRefs returns, for each input of m, the value a monotone
// feature's contribution is measured from: its least alarming value in
// training, the minimum of its feature_infos "[min:max]" when P(faulty)
// is non-decreasing in it (+1), the maximum when non-increasing (−1). It
// is NaN for unconstrained inputs and for inputs without a usable range
// (never split on), which keep their path attribution.
func monotoneRefs(m *lightgbm.Model) []float64 {
	ref := make([]float64, m.NumFeatures())
	for j := range ref {
		ref[j] = math.NaN()
		if j >= len(m.MonotoneConstraints) || m.MonotoneConstraints[j] == 0 || j >= len(m.FeatureInfos) {
			continue
		}
		lo, hi, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(m.FeatureInfos[j], "["), "]"), ":")
		if !ok {
			continue
		}
		v := lo
		if m.MonotoneConstraints[j] < 0 {
			v = hi
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(x) {
			ref[j] = x
		}
	}
	return ref
}

// Manifest returns the bundle's manifest.
func (d *Detector) Manifest() bundle.Manifest { return d.manifest }

// Horizons returns the model horizons, ascending.
func (d *Detector) Horizons() []int { return slices.Clone(d.horizons) }

// Threshold returns the policy's decision threshold at horizon h on the
// scale of Predict — calibrated when the bundle's policy has a calibrator
// (policy.Policy.CalibratedThreshold) — NaN when the policy does not look
// at h.
func (d *Detector) Threshold(h int) float64 {
	for i, ph := range d.policy.Horizons {
		if ph == h {
			return d.policy.CalibratedThreshold(i)
		}
	}
	return math.NaN()
}

// FleetEventShare returns the policy's fleet_event_share: a look whose
// window saw at least that share of the environment's other services
// elevated does not flag (policy.Policy.FleetEventShare); 0: every look may.
func (d *Detector) FleetEventShare() float64 { return d.policy.FleetEventShare }

// FeatureConfig returns the feature settings the models were trained with;
// features must be computed with them.
func (d *Detector) FeatureConfig() features.Config { return d.cfg }

// Predict returns P(faulty) of a feature row (features.Schema order, NaN
// where undefined) at horizon h: the model's probability through the
// policy's calibrator of that horizon when the bundle has one (train.json's
// policy calibration: Platt scaling fitted on validation), so that 0.8 means
// about 80 % of such deploys were labelled faulty. Calibration is strictly
// increasing: compared with Threshold it flags what the model's own
// probability flags against the trained threshold.
func (d *Detector) Predict(h int, row []float64) (float64, error) {
	p, err := d.predictModel(h, row)
	if err != nil {
		return p, err
	}
	for i, ph := range d.policy.Horizons {
		if ph == h {
			return d.policy.Calibrate(i, p), nil
		}
	}
	return p, nil
}

// predictModel returns the model's own probability, the sigmoid of its raw
// score: the scale the policy's thresholds were chosen on.
func (d *Detector) predictModel(h int, row []float64) (float64, error) {
	md, ok := d.models[h]
	if !ok {
		return math.NaN(), fmt.Errorf("detector: no model for horizon %d", h)
	}
	if len(row) != len(d.manifest.FeatureSchema.Names) {
		return math.NaN(), fmt.Errorf("detector: row has %d values, schema has %d", len(row), len(d.manifest.FeatureSchema.Names))
	}
	var out [1]float64
	if err := md.raw.Predict(md.input(row), 0, out[:]); err != nil {
		return math.NaN(), fmt.Errorf("detector: predict h%d: %w", h, err)
	}
	return metrics.Sigmoid(out[0]), nil
}

// Reason is one feature's contribution to a score.
type Reason struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
	// Contribution is the change in raw score (log-odds) the feature caused;
	// positive pushes towards faulty. For a feature the model is monotone
	// in it is measured from the feature's reference (Explain), so a fault
	// signal's is never negative.
	Contribution float64 `json:"contribution"`
}

// MarshalJSON writes NaN values as null.
func (r Reason) MarshalJSON() ([]byte, error) {
	type out struct {
		Feature      string   `json:"feature"`
		Value        *float64 `json:"value"`
		Contribution float64  `json:"contribution"`
	}
	return json.Marshal(out{Feature: r.Feature, Value: metrics.OrNull(r.Value), Contribution: r.Contribution})
}

// Explanation is a score with its attribution.
type Explanation struct {
	Horizon int     `json:"horizon"`
	P       float64 `json:"p_faulty"`
	Raw     float64 `json:"raw_score"`
	// Bias is the raw score before any feature is seen.
	Bias float64 `json:"bias"`
	// Contributions are indexed like the schema. Bias + sum = Raw when the
	// model has no monotone constraint; a feature the model is monotone in
	// contributes Raw minus the raw score with the feature at its least
	// alarming training value (Explain).
	Contributions []float64 `json:"-"`
	row           []float64
}

// Explain scores row at horizon h and attributes the raw score to
// features: path attribution (Saabas), except that a feature the model is
// monotone in gets raw(row) − raw(row with the feature at its reference),
// the reference being its least alarming training value (monotoneRefs).
// By monotonicity that is ≥ 0 for a non-decreasing feature at any value
// that is not missing: a fault signal never counts towards healthy.
func (d *Detector) Explain(h int, row []float64) (*Explanation, error) {
	md, ok := d.models[h]
	if !ok {
		return nil, fmt.Errorf("detector: no model for horizon %d", h)
	}
	names := d.manifest.FeatureSchema.Names
	if len(row) != len(names) {
		return nil, fmt.Errorf("detector: row has %d values, schema has %d", len(row), len(names))
	}
	in := md.input(row)
	var raw [1]float64
	if err := md.raw.Predict(in, 0, raw[:]); err != nil {
		return nil, fmt.Errorf("detector: predict h%d: %w", h, err)
	}
	lf := make([]float64, md.nTrees)
	if err := md.leaf.Predict(in, 0, lf); err != nil {
		return nil, fmt.Errorf("detector: leaves h%d: %w", h, err)
	}
	li := make([]int, len(lf))
	for i, x := range lf {
		li[i] = int(x)
	}
	e := &Explanation{Horizon: h, Raw: raw[0], P: metrics.Sigmoid(raw[0]), Contributions: make([]float64, len(names)), row: row}
	mc := make([]float64, len(md.cols))
	bias, err := md.struc.Contributions(li, mc)
	if err != nil {
		return nil, fmt.Errorf("detector: attribute h%d: %w", h, err)
	}
	for j, r := range md.ref {
		if math.IsNaN(r) {
			continue
		}
		v := in[j]
		in[j] = r
		var at [1]float64
		err := md.raw.Predict(in, 0, at[:])
		in[j] = v
		if err != nil {
			return nil, fmt.Errorf("detector: predict h%d: %w", h, err)
		}
		mc[j] = raw[0] - at[0]
	}
	for j, c := range md.cols {
		e.Contributions[c] += mc[j]
	}
	e.Bias = bias
	return e, nil
}

// Top returns the k features that pushed the score most in the direction
// of dir (+1 towards faulty, -1 towards healthy, 0 by absolute size),
// skipping features that contributed nothing in that direction.
func (d *Detector) Top(e *Explanation, k int, dir int) []Reason {
	names := d.manifest.FeatureSchema.Names
	idx := make([]int, 0, len(names))
	for i, c := range e.Contributions {
		if (dir > 0 && c > 0) || (dir < 0 && c < 0) || (dir == 0 && c != 0) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ca, cb := e.Contributions[idx[a]], e.Contributions[idx[b]]
		switch {
		case dir > 0:
			return ca > cb
		case dir < 0:
			return ca < cb
		default:
			return math.Abs(ca) > math.Abs(cb)
		}
	})
	if len(idx) > k {
		idx = idx[:k]
	}
	out := make([]Reason, len(idx))
	for j, i := range idx {
		out[j] = Reason{Feature: names[i], Value: e.row[i], Contribution: e.Contributions[i]}
	}
	return out
}

// HorizonScore is the score of one horizon.
type HorizonScore struct {
	Horizon   int     `json:"horizon"`
	P         float64 `json:"p_faulty"`
	Threshold float64 `json:"threshold"`
	Flagged   bool    `json:"flagged"`
	// Inconclusive reports that the look cannot judge the window: no check
	// could (unjudged: the new version served too little traffic for the
	// canary checks — the inconclusive feature — and the before/after
	// checks did not judge a change without a canary either), or it fell
	// in a fleet event (FleetEvent).
	Inconclusive bool `json:"inconclusive"`
	// FleetEvent reports that at least the policy's fleet_event_share of
	// the environment's other services was elevated in one minute of the
	// window (fleet_elevated_max_frac): the look does not flag, whatever
	// P, as the deployment's errors cannot be told from the environment's.
	FleetEvent bool `json:"fleet_event,omitempty"`
}

// Result is a deploy's verdict.
type Result struct {
	// Verdict is Faulty, Healthy or Inconclusive.
	Verdict string `json:"verdict"`
	// DetectedAt is the first horizon the policy flagged; 0 when none.
	DetectedAt int `json:"detected_at_min,omitempty"`
	// Final is false while later horizons could still flag the deploy
	// (the verdict is then provisional).
	Final bool `json:"final"`
	// Scores has one entry per horizon with data, ascending.
	Scores []HorizonScore `json:"scores"`
	// FleetEventLooks are the horizons with data, ascending, whose window
	// fell in a fleet event (HorizonScore.FleetEvent): all of them, also
	// those after the flagging look, which Scores leaves out — what a
	// measure of each look alone needs to skip as the policy does.
	FleetEventLooks []int `json:"fleet_event_looks,omitempty"`
	// DecidingHorizon is the horizon the verdict and reasons come from.
	DecidingHorizon int `json:"deciding_horizon,omitempty"`
	// Reasons are the features that pushed the deciding score most
	// towards the verdict.
	Reasons []Reason `json:"reasons"`
	Model   string   `json:"model"`
	Version int      `json:"model_version"`
}

// NumReasons is how many reasons Decide returns.
const NumReasons = 5

// unjudged reports whether no check could judge a window: the canary
// checks had too little traffic or data (features' inconclusive is 1) and
// the before/after checks did not judge it either — a change with a canary,
// or without one but too little history for them (ba_checks 0 or NaN). On
// aggregate-only metrics no version has series of its own, so the canary
// checks never judge, and the before/after checks are all the evidence
// there is: where they judged, the model's score is a verdict. Missing
// evidence is never evidence of health.
func unjudged(row []float64) bool {
	if row[features.Inconclusive] != 1 {
		return false
	}
	return !(withoutCanary(row) && row[features.BAChecks] > 0)
}

// Decide applies the sequential policy (policy.Policy: the bundle's policy,
// or its per-horizon thresholds) to the feature rows of one deploy (rows[h]
// for each horizon with at least h minutes of data; absent otherwise): the
// deploy is faulty at the first horizon, ascending, whose P(faulty) reaches
// its threshold, a look in a fleet event (the policy's FleetEventShare)
// excepted; otherwise inconclusive when the latest scored window could not
// be judged (unjudged, or a fleet event; or no horizon has data), else
// healthy.
// The verdict is final once the largest horizon is scored or the deploy is
// flagged.
func (d *Detector) Decide(rows map[int][]float64) (*Result, error) {
	return d.decide(rows, true)
}

// DecideWithoutReasons is Decide without the reasons: the same verdict,
// scores and deciding horizon, with Reasons empty. Reasons cost a model
// evaluation per monotone feature (Explain), most of the cost of scoring
// many deploys that nobody reads the reasons of (predict, the promotion
// gate).
func (d *Detector) DecideWithoutReasons(rows map[int][]float64) (*Result, error) {
	return d.decide(rows, false)
}

func (d *Detector) decide(rows map[int][]float64, reasons bool) (*Result, error) {
	res := &Result{Model: d.manifest.Model, Version: d.manifest.Version, Reasons: []Reason{}, Scores: []HorizonScore{}}
	probs := make([]float64, len(d.policy.Horizons))
	looked := make([]float64, len(d.policy.Horizons)) // probs, NaN where the policy skips the look
	fleet := make([]bool, len(d.policy.Horizons))
	last := 0
	for i, h := range d.policy.Horizons {
		probs[i], looked[i] = math.NaN(), math.NaN()
		row, ok := rows[h]
		if !ok {
			continue
		}
		p, err := d.predictModel(h, row)
		if err != nil {
			return nil, err
		}
		probs[i], looked[i] = p, p
		if fleet[i] = features.FleetEvent(row[features.FleetElevatedMaxFrac], d.policy.FleetEventShare); fleet[i] {
			looked[i] = math.NaN()
			res.FleetEventLooks = append(res.FleetEventLooks, h)
		}
		last = h
	}
	flagged, at := d.policy.Decide(looked)
	deciding := last
	for i, h := range d.policy.Horizons {
		if math.IsNaN(probs[i]) || (flagged && h > at) {
			continue
		}
		row := rows[h]
		// decided on the model's probability; reported calibrated
		res.Scores = append(res.Scores, HorizonScore{Horizon: h, P: d.policy.Calibrate(i, probs[i]), Threshold: d.policy.CalibratedThreshold(i),
			Flagged: flagged && h == at, Inconclusive: fleet[i] || unjudged(row), FleetEvent: fleet[i]})
	}
	switch {
	case flagged:
		res.Verdict, res.DetectedAt, res.Final = Faulty, at, true
		deciding = at
	case len(res.Scores) == 0:
		res.Verdict = Inconclusive
	case res.Scores[len(res.Scores)-1].Inconclusive:
		res.Verdict = Inconclusive
	default:
		res.Verdict = Healthy
	}
	if !flagged {
		_, res.Final = rows[d.policy.Horizons[len(d.policy.Horizons)-1]]
	}
	if deciding != 0 && !reasons {
		res.DecidingHorizon = deciding
	} else if deciding != 0 {
		e, err := d.Explain(deciding, rows[deciding])
		if err != nil {
			return nil, err
		}
		res.DecidingHorizon = deciding
		dir := -1
		if res.Verdict == Faulty {
			dir = 1
		} else if res.Verdict == Inconclusive {
			dir = 0
		}
		res.Reasons = d.Top(e, NumReasons, dir)
	}
	return res, nil
}

// Rows computes the feature rows of a live deploy: the window at every
// horizon h whose end (deploy start + h minutes) is not after dataUntil, the
// time up to which in holds data. It uses features.NewWindows (the
// horizons share what they have in common) and features.Compute with the
// bundle's feature settings, exactly as the offline extractor does.
func (d *Detector) Rows(in *features.Input, dataUntil time.Time) (map[int][]float64, error) {
	out := map[int][]float64{}
	start := in.Deploy.StartedAt.Truncate(time.Minute)
	var hs []int
	for _, h := range d.horizons {
		if start.Add(time.Duration(h) * time.Minute).After(dataUntil) {
			break
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 {
		return out, nil
	}
	ws, err := features.NewWindows(in, hs, &d.cfg)
	if err != nil {
		return nil, fmt.Errorf("detector: windows %v: %w", hs, err)
	}
	for i, h := range hs {
		out[h] = features.Compute(ws[i], &d.cfg)
	}
	return out, nil
}

// Evaluate computes the features of a live deploy from in (data up to
// dataUntil) and decides it.
func (d *Detector) Evaluate(in *features.Input, dataUntil time.Time) (*Result, error) {
	rows, err := d.Rows(in, dataUntil)
	if err != nil {
		return nil, err
	}
	return d.Decide(rows)
}
