package evaluation

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
)

// Disagreement is the set of held-out deploys on which the sequential
// decisions (flagged at any horizon or not) of two contenders differ, and
// how each contender fares on them against each reference.
type Disagreement struct {
	A       string `json:"a"`
	B       string `json:"b"`
	Deploys int    `json:"deploys"`
	AOnly   int    `json:"flagged_by_a_only"`
	BOnly   int    `json:"flagged_by_b_only"`
	// ByReference scores both sides on the disagreements that the reference labels.
	ByReference []DisagreementScore `json:"by_reference"`
	ids         []string
}

// DisagreementScore is precision and recall of both sides of a
// disagreement against one reference.
type DisagreementScore struct {
	Reference string    `json:"reference"`
	Labeled   int       `json:"labeled"`
	Faulty    int       `json:"faulty"`
	A         SideScore `json:"a"`
	B         SideScore `json:"b"`
}

// SideScore is one contender's precision and recall on disagreements.
type SideScore struct {
	Confusion metrics.Confusion `json:"confusion"`
	Precision metrics.Estimate  `json:"precision"`
	Recall    metrics.Estimate  `json:"recall"`
}

// disagreementPairs lists the pairs compared, the primary pair (baseline
// against the weak-label model) first.
var disagreementPairs = [][2]string{
	{ContenderBaseline, ContenderWeak},
	{ContenderBaseline, ContenderEnsemble},
	{ContenderEnsemble, ContenderWeak},
	{ContenderBaseline, ContenderProduction},
}

func disagreements(rep *Report) []Disagreement {
	byName := map[string]*Contender{}
	for _, c := range rep.contenders {
		byName[c.Name] = c
	}
	var out []Disagreement
	for _, p := range disagreementPairs {
		a, b := byName[p[0]], byName[p[1]]
		if a == nil || b == nil {
			continue
		}
		d := Disagreement{A: a.Name, B: b.Name}
		for _, id := range rep.ids {
			fa, fb := a.decisions[id].DetectedAt >= 0, b.decisions[id].DetectedAt >= 0
			if fa == fb {
				continue
			}
			d.ids = append(d.ids, id)
			if fa {
				d.AOnly++
			} else {
				d.BOnly++
			}
		}
		d.Deploys = len(d.ids)
		for _, r := range rep.refs {
			s := DisagreementScore{Reference: r.Name}
			for _, id := range d.ids {
				y, ok := r.labels[id]
				if !ok {
					continue
				}
				s.Labeled++
				if y {
					s.Faulty++
				}
				s.A.Confusion.Add(a.decisions[id].DetectedAt >= 0, y)
				s.B.Confusion.Add(b.decisions[id].DetectedAt >= 0, y)
			}
			for _, side := range []*SideScore{&s.A, &s.B} {
				side.Precision = side.Confusion.PrecisionEstimate()
				side.Recall = side.Confusion.RecallEstimate()
			}
			d.ByReference = append(d.ByReference, s)
		}
		out = append(out, d)
	}
	return out
}

// Candidate is a disagreement deploy, with the evidence a reviewer needs.
type Candidate struct {
	Deploy Deploy
	// Pairs names the disagreeing pairs, e.g. "baseline≠weak".
	Pairs []string
	// Verdicts gives each contender's sequential decision: "flagged@20" or "-".
	Verdicts map[string]string
	// Model is the contender whose probability measures uncertainty (the
	// weak-label model when present), with its deciding horizon, p and threshold.
	Model        string
	ModelHorizon int
	PModel       float64
	Threshold    float64
	PFaulty      float64 // label-model posterior; NaN without labels
	WeakLabel    int     // -1 abstain, or no labels
	Gold         string  // "faulty", "healthy" or ""
	Truth        string  // "faulty (step)", "healthy" or "" when not simulated
	// Impact over SparklineMinutes either side of the deploy, all versions
	// of the service in the environment: requests after, error rates before
	// and after, and the excess errors after (errors beyond the rate before).
	RequestsAfter float64
	RateBefore    float64
	RateAfter     float64
	ExcessErrors  float64
	Uncertainty   float64
	Priority      float64
	// Spark is the per-minute error rate from −SparklineMinutes to
	// +SparklineMinutes (NaN where there was no traffic).
	Spark []float64
}

// verdict formats a decision.
func verdict(d Decision) string {
	if d.DetectedAt < 0 {
		return "-"
	}
	return fmt.Sprintf("flagged@%d", d.DetectedAt)
}

// buildCandidates collects the disagreement deploys that carry no gold
// label yet, with evidence, ranked most worth a look first.
func (rep *Report) buildCandidates(ctx context.Context, h HistoryReader) error {
	byID := map[string]*Candidate{}
	var order []string
	var model *Contender
	for _, c := range rep.contenders {
		if c.Name == ContenderWeak {
			model = c
		}
	}
	if model == nil {
		for _, c := range rep.contenders {
			if c.Name != ContenderBaseline {
				model = c
				break
			}
		}
	}
	for _, d := range rep.Disagreements {
		for _, id := range d.ids {
			c := byID[id]
			if c == nil {
				c = &Candidate{Deploy: rep.in.Deploys[id], Verdicts: map[string]string{}, PFaulty: math.NaN(), WeakLabel: -1, PModel: math.NaN(), Threshold: math.NaN()}
				byID[id] = c
				order = append(order, id)
			}
			c.Pairs = append(c.Pairs, d.A+"≠"+d.B)
		}
	}
	for _, id := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := byID[id]
		for _, ct := range rep.contenders {
			c.Verdicts[ct.Name] = verdict(ct.decisions[id])
		}
		if y, ok := rep.gold[id]; ok {
			c.Gold = labelWord(y)
		}
		if rep.truth != nil {
			if t, ok := rep.truth[id]; ok {
				c.Truth = labelWord(t.Faulty)
				if t.Faulty && t.Shape != "" {
					c.Truth += " (" + t.Shape + ")"
				}
			}
		}
		if l, ok := rep.in.Labels[id]; ok {
			c.PFaulty, c.WeakLabel = l.PFaulty, l.Label
		}
		var uncert []float64
		if model != nil {
			d := model.decisions[id]
			hz := d.DetectedAt
			if hz < 0 {
				// Not flagged: the last horizon with data is the one that decided.
				for _, hh := range model.Horizons {
					if !math.IsNaN(d.P[hh]) {
						hz = hh
					}
				}
			}
			if hz >= 0 {
				c.Model, c.ModelHorizon, c.PModel, c.Threshold = model.Name, hz, d.P[hz], model.Thresholds[hz]
				t := c.Threshold
				uncert = append(uncert, 1-math.Abs(c.PModel-t)/math.Max(t, 1-t))
			}
		}
		if !math.IsNaN(c.PFaulty) {
			uncert = append(uncert, 1-2*math.Abs(c.PFaulty-0.5))
		}
		c.Uncertainty = 0.5
		if len(uncert) > 0 {
			s := 0.0
			for _, u := range uncert {
				s += u
			}
			c.Uncertainty = s / float64(len(uncert))
		}
		if h != nil {
			if err := rep.impact(ctx, h, c); err != nil {
				return err
			}
		}
		c.Priority = c.Uncertainty * math.Log10(10+c.ExcessErrors)
	}
	for _, id := range order {
		c := byID[id]
		if c.Gold != "" {
			rep.annotated = append(rep.annotated, c)
		} else {
			rep.candidates = append(rep.candidates, c)
		}
	}
	rank := func(cs []*Candidate) {
		sort.SliceStable(cs, func(i, j int) bool {
			if cs[i].Priority != cs[j].Priority {
				return cs[i].Priority > cs[j].Priority
			}
			return cs[i].Deploy.ID < cs[j].Deploy.ID
		})
	}
	rank(rep.candidates)
	rank(rep.annotated)
	return nil
}

func labelWord(faulty bool) string {
	if faulty {
		return history.LabelFaulty
	}
	return history.LabelHealthy
}

// impact reads the service's series around the deploy: the sparkline and
// the excess errors after it.
func (rep *Report) impact(ctx context.Context, h HistoryReader, c *Candidate) error {
	w := rep.cfg.SparklineMinutes
	start := c.Deploy.StartedAt.Truncate(time.Minute)
	r := history.Range{From: start.Add(-time.Duration(w) * time.Minute), Until: start.Add(time.Duration(w) * time.Minute)}
	series, err := h.Metrics(ctx, history.Stream{Service: c.Deploy.Service, Environment: c.Deploy.Environment}, r)
	if err != nil {
		return fmt.Errorf("read metrics of %s/%s for deploy %s: %w", c.Deploy.Service, c.Deploy.Environment, c.Deploy.ID, err)
	}
	m0 := history.UnixMinute(start) - int64(w)
	req := make([]float64, 2*w)
	errs := make([]float64, 2*w)
	for _, s := range series {
		for i, m := range s.Minutes {
			k := int(m - m0)
			if k < 0 || k >= 2*w {
				continue
			}
			req[k] += s.Requests[i]
			errs[k] += s.Errors[i]
		}
	}
	c.Spark = make([]float64, 2*w)
	var rb, eb, ra, ea float64
	for k := range req {
		c.Spark[k] = math.NaN()
		if req[k] > 0 {
			c.Spark[k] = errs[k] / req[k]
		}
		if k < w {
			rb, eb = rb+req[k], eb+errs[k]
		} else {
			ra, ea = ra+req[k], ea+errs[k]
		}
	}
	c.RequestsAfter = ra
	c.RateBefore, c.RateAfter = math.NaN(), math.NaN()
	if rb > 0 {
		c.RateBefore = eb / rb
	}
	if ra > 0 {
		c.RateAfter = ea / ra
	}
	base := c.RateBefore
	if math.IsNaN(base) {
		base = 0
	}
	c.ExcessErrors = math.Max(0, ea-base*ra)
	return nil
}
