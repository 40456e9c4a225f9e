package quality

import (
	"fmt"
	"math"
	"slices"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/altsim"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Evidence in the window. Some faults leave almost nothing in the metrics
// a detector reads: a tenfold error rate on a version that served forty
// requests at 0.5 % adds two errors. No detector can find those at any
// precision, and the benchmark says how many there are, so that a recall
// below the floor can be read as the detector's loss or as the data's.
//
// The rule, for faults whose shape raises the error rate (step, ramp,
// delayed, new_signature; the alt generator's step, leak, partial and
// intermittent): the excess errors the fault added in the version's
// window is estimated as
//
//	E = N · r · (severity − 1) · share
//
// N the requests the new version served in the largest horizon's window
// (new_requests) — on aggregate-only metrics, where no series is a
// version's (new_requests 0 and no previous version's rate either), the
// service's requests instead, which a big-bang deploy sends to the new
// version: its rate before the change times the minutes served
// (baseline_rpm · W) —, r the error rate it was expected to have
// (expected_error_rate, the pipeline's estimate of the service's rate, not
// the simulator's), and share the part of the fault's effect inside the
// window the version served (W: the horizon, or fewer minutes when the
// next deploy of the stream started within it): 1 for step and
// new_signature, (W − onset)/W for delayed (0 when it began after the
// version was replaced), ½ for ramp (its excess grows from nothing to full
// over 10 to 40 minutes); for the alt generator's faults, 1 for partial
// and intermittent (their severity is the added rate's, and the mean
// multiplier's, over the whole window), and for a leak, which grows to its
// severity over 20 to 90 minutes, the share of the fastest: W/40 up to 20
// minutes, 1 − 10/W after. A fault is evidence-poor when E <
// EvidenceMinErrors. Latency faults and KPI shifts and bursts are not
// judged. Expected_error_rate is inflated where a recent deploy's blip
// lifted the baseline, so E overstates the evidence there: the share of
// poor faults is a lower bound.

// EvidenceMinErrors is the least number of excess errors in the window
// for a fault to count as carrying evidence. Five errors are about what a
// Poisson count needs to stand out from a handful expected.
const EvidenceMinErrors = 5

// EvidenceCounts tally the faults of severity ≥ Floors.MinSeverity by the
// evidence they left (see EvidenceMinErrors) and by the production
// policy's verdict. They add up across seeds.
type EvidenceCounts struct {
	// Judged counts the faults the rule applies to; Poor those of them
	// with fewer than EvidenceMinErrors estimated excess errors.
	Judged int `json:"judged"`
	Poor   int `json:"poor"`
	// RichFlagged and PoorFlagged count the judged faults the production
	// policy flagged, with evidence and without.
	RichFlagged int `json:"rich_flagged"`
	PoorFlagged int `json:"poor_flagged"`
	// CeilingFound is the expected number of the CeilingFaults faults of
	// severity ≥ Floors.MinSeverity (of every shape) that the error-count
	// oracle finds at the precision floor (ceiling.go); CeilingAlpha its
	// per-deploy false-alarm rate, per fleet (not added up across seeds).
	CeilingFaults int     `json:"ceiling_faults"`
	CeilingFound  float64 `json:"ceiling_found"`
	CeilingAlpha  float64 `json:"ceiling_alpha,omitempty"`
}

// Add adds o's tallies to c.
func (c *EvidenceCounts) Add(o EvidenceCounts) {
	c.Judged += o.Judged
	c.Poor += o.Poor
	c.RichFlagged += o.RichFlagged
	c.PoorFlagged += o.PoorFlagged
	c.CeilingFaults += o.CeilingFaults
	c.CeilingFound += o.CeilingFound
	c.CeilingAlpha = 0 // one per fleet
}

// EvidenceScore is the evidence tallies and their figures.
type EvidenceScore struct {
	EvidenceCounts
	// PoorShare is the share of judged faults that are evidence-poor;
	// RichRecall and PoorRecall the production policy's recall on each kind.
	PoorShare  metrics.Estimate `json:"poor_share"`
	RichRecall metrics.Estimate `json:"rich_recall"`
	PoorRecall metrics.Estimate `json:"poor_recall"`
}

// Ceiling returns CeilingFound over CeilingFaults, the recall the error
// counts allow at the precision floor; ok is false without faults.
func (c EvidenceCounts) Ceiling() (recall float64, ok bool) {
	if c.CeilingFaults == 0 {
		return 0, false
	}
	return c.CeilingFound / float64(c.CeilingFaults), true
}

// Score derives the figures of c.
func (c EvidenceCounts) Score() EvidenceScore {
	return EvidenceScore{EvidenceCounts: c,
		PoorShare:  metrics.Proportion(c.Poor, c.Judged),
		RichRecall: metrics.Proportion(c.RichFlagged, c.Judged-c.Poor),
		PoorRecall: metrics.Proportion(c.PoorFlagged, c.Poor),
	}
}

// excessErrors returns E of the rule above for a fault t whose version
// served requests in minutes W of its window, with ok false when the rule
// does not judge it. A version that served no request left no evidence.
func excessErrors(t history.Truth, requests, expected, minutes float64) (e float64, ok bool) {
	if !(requests >= 0) || math.IsNaN(expected) || !(minutes > 0) {
		return 0, false
	}
	share := 1.0
	switch t.Shape {
	case simulate.ShapeStep, simulate.ShapeNewSignature:
	case simulate.ShapeRamp:
		share = 0.5
	case simulate.ShapeDelayed:
		share = math.Max(0, minutes-float64(t.OnsetMinute)) / minutes
	case altsim.ShapePartial, altsim.ShapeIntermittent:
	case altsim.ShapeLeak:
		// The fastest leak (20 minutes to full): the most it can have added.
		share = minutes / 40
		if minutes > 20 {
			share = 1 - 10/minutes
		}
	default:
		return 0, false
	}
	return requests * expected * (t.Severity - 1) * share, true
}

// evidenceColumns are the features columns TallyEvidence reads, in the
// order it uses them.
var evidenceColumns = []int{features.NewRequests, features.ExpectedErrorRate, features.BaselineRPM, features.PrevErrorRate}

// evidenceColumnNames returns the names of evidenceColumns, for
// workdir.ReadFeatures.
func evidenceColumnNames() []string {
	out := make([]string, len(evidenceColumns))
	for k, f := range evidenceColumns {
		out[k] = features.Schema[f].Name
	}
	return out
}

// TallyEvidence tallies the truth-faulty deploys of severity ≥
// floors.MinSeverity by the evidence they left in ft, the features of
// horizon h (the largest), and by flagged, the deploys the production
// policy flagged, and sets the error-count ceiling at floors.Precision
// (ceiling.go). deploys gives each stream's next start, which ends a
// version's window.
func TallyEvidence(ft *workdir.Features, h int, deploys []workdir.DeployRow, truth map[string]history.Truth, flagged map[string]bool, floors Floors) (EvidenceCounts, error) {
	var c EvidenceCounts
	cols := make([][]float64, len(evidenceColumns))
	for k, f := range evidenceColumns {
		if cols[k] = ft.Feature(f); cols[k] == nil {
			return c, fmt.Errorf("evidence: %s lacks %s", ft.Path, features.Schema[f].Name)
		}
	}
	reqs, exp, rpm, prev := cols[0], cols[1], cols[2], cols[3]
	served := servedMinutes(deploys, h)
	ceil := newCeiling()
	for i, id := range ft.IDs {
		t, ok := truth[id]
		if !ok {
			return c, fmt.Errorf("evidence: deployment %s has no ground truth", id)
		}
		counted := t.Faulty && t.Severity >= floors.MinSeverity
		w, ok := served[id]
		if !ok {
			if counted {
				return c, fmt.Errorf("evidence: deployment %s is not in deploys.parquet", id)
			}
			if t.Faulty {
				ceil.fault(false, 0, 0, false) // found, in the oracle's favour
			}
			continue
		}
		n := reqs[i]
		if n == 0 && math.IsNaN(prev[i]) {
			n = rpm[i] * w // aggregate-only metrics: the service's requests
		}
		if !t.Faulty {
			ceil.healthy(n * exp[i])
			continue
		}
		e, ok := excessErrors(t, n, exp[i], w)
		ceil.fault(ok, n*exp[i], e, counted)
		if !ok || !counted {
			continue
		}
		c.Judged++
		poor := e < EvidenceMinErrors
		switch {
		case poor:
			c.Poor++
			if flagged[id] {
				c.PoorFlagged++
			}
		case flagged[id]:
			c.RichFlagged++
		}
	}
	c.CeilingFaults = ceil.faults
	c.CeilingFound, c.CeilingAlpha = ceil.best(floors.Precision)
	return c, nil
}

// servedMinutes returns, per deployment, the minutes of the h-minute window
// its version served: h, or the minutes until the next deploy of the same
// service and environment started, when that came first.
func servedMinutes(deploys []workdir.DeployRow, h int) map[string]float64 {
	type stream struct{ service, env string }
	by := map[stream][]workdir.DeployRow{}
	for _, d := range deploys {
		k := stream{d.Service, d.Environment}
		by[k] = append(by[k], d)
	}
	out := make(map[string]float64, len(deploys))
	for _, ds := range by {
		slices.SortStableFunc(ds, func(a, b workdir.DeployRow) int { return a.StartedAt.Compare(b.StartedAt) })
		for i, d := range ds {
			w := float64(h)
			if i+1 < len(ds) {
				w = math.Min(w, ds[i+1].StartedAt.Sub(d.StartedAt).Minutes())
			}
			out[d.DeploymentID] = w
		}
	}
	return out
}
