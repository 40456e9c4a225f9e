package features

import (
	"math"

	"github.com/faultline-dev/faultline/internal/metrics"
)

// The service's own elevation and the fleet control: steps of ComputeInto,
// and what the extractor shares with them (Elevated, FillFleet).

// serviceElevation sets the share of window minutes in which the whole
// service is elevated by the rule the fleet counts use (Elevated), so that
// a model can set the service against its fleet.
func (c *calc) serviceElevation() {
	w, B, H := c.w, c.B, c.H
	el := make([]bool, B+H)
	Elevated(w.svcReq, w.svcErr, B, c.cfg, el)
	var ne float64
	for j := B; j < B+H; j++ {
		if el[j] {
			ne++
		}
	}
	c.v[ServiceElevatedFrac] = ne / float64(H)
}

// fleet sets the fleet columns when the window has fleet counts (see
// fillFleet); it may fail the temporal check, so it runs after ensemble
// and votes again. Without fleet data the columns stay NaN.
func (c *calc) fleet() {
	if c.w.fleet != nil {
		fillFleet(c.v, c.w.fleet, c.w.fleetTotal, c.B, c.H, c.cfg)
	}
}

// FillFleet sets the fleet columns of v (computed without fleet data) for a
// deploy starting at Unix minute start: the offline extractor computes
// fleet counts in a second pass and completes vectors with it. The result
// equals Compute on a window built with the same Fleet.
func FillFleet(v []float64, start int64, h int, f *Fleet, cfg *Config) {
	B := cfg.BaselineMinutes
	lo := start - int64(B)
	counts, total := cutFleet(f, lo, B+h, nil)
	fillFleet(v, counts, total, B, h, cfg)
}

// fillFleet sets the fleet columns of a vector whose other columns are
// complete, from counts (other services elevated per minute of baseline
// and window, NaN where unknown) and total (other services): mean and
// largest shares, the outage flag, the impact discounted by the fleet, and
// the fleet's share around the change point, which fails a temporal check
// the change point decided when the change came with a fleet-wide event
// (the ensemble is then voted again).
func fillFleet(v []float64, counts []float64, total, B, H int, cfg *Config) {
	v[FleetServices] = float64(total)
	for _, k := range []int{FleetElevatedFrac, FleetElevatedMaxFrac, FleetElevatedBaseFrac, FleetOutage, FleetAdjustedLogRatio, FleetElevatedAtCP} {
		v[k] = math.NaN()
	}
	if total <= 0 {
		return
	}
	n := float64(total)
	meanFrac := func(a, z int) (mean, mx float64) {
		var s, c float64
		mx = math.NaN()
		for j := a; j < z; j++ {
			if math.IsNaN(counts[j]) {
				continue
			}
			f := counts[j] / n
			s += f
			c++
			if math.IsNaN(mx) || f > mx {
				mx = f
			}
		}
		if c == 0 {
			return math.NaN(), math.NaN()
		}
		return s / c, mx
	}
	post, mx := meanFrac(B, B+H)
	base, _ := meanFrac(0, B)
	v[FleetElevatedFrac], v[FleetElevatedMaxFrac], v[FleetElevatedBaseFrac] = post, mx, base
	if !math.IsNaN(post) {
		v[FleetOutage] = b2f(post >= cfg.Fleet.OutageShare)
		v[FleetAdjustedLogRatio] = v[ImpactLogRatio] * (1 - post)
	}
	// A change point that came with other services' elevation is the
	// fleet's, not the deploy's: the temporal check then fails.
	if cp := v[CPOffset]; !math.IsNaN(cp) {
		c := B + int(cp)
		_, atCP := meanFrac(max(0, c-2), min(B+H, c+3))
		v[FleetElevatedAtCP] = atCP
		if v[TemporalByChangePoint] == 1 && v[TemporalPass] == 1 && atCP >= cfg.Fleet.ChangePointShare {
			v[TemporalPass] = 0
			vote(v)
		}
	}
}

// Elevated marks the minutes at which a service's error rate (all versions
// together, requests req and errors errs per consecutive minute) is
// significantly above its trailing baseline of the b minutes before:
// shrunk ratio ≥ fleet.elevated_ratio and Poisson p < fleet.elevated_alpha.
// out[i] depends on minutes i-b..i only, so elevation is point-in-time; the
// first b minutes are never elevated.
func Elevated(req, errs []float64, b int, cfg *Config, out []bool) {
	var rs, es float64
	for i := range out {
		out[i] = false
		if i >= b {
			if i > b {
				rs -= req[i-b-1]
				es -= errs[i-b-1]
			}
			if rs > 0 && req[i] > 0 {
				lam := req[i] * (es + 0.5) / (rs + 1)
				if shrunkRatio(errs[i], lam, cfg.PriorErrors) >= cfg.Fleet.ElevatedRatio &&
					metrics.PoissonUpper(errs[i], lam) < cfg.Fleet.ElevatedAlpha {
					out[i] = true
				}
			}
		}
		rs += req[i]
		es += errs[i]
	}
}
