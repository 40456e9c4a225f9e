package features

import (
	"fmt"
	"math"
	"sort"
)

// baView is what the before/after checks see of the service: its
// per-minute series on segments of minutes around the start's time of day,
// on the day of the change (segment 0) and on each of the previous days
// (segment j lies j days earlier). Segment j covers the L minutes from
// lo(j) = start − 1440·j − span − B, with L = 2·span + B + H, so that the
// start minute is index span+B of segment 0 and the same clock minute of
// every other segment. Each series holds segs·L values, segment after
// segment, NaN where unknown and at or after the cut.
type baView struct {
	segs, L, span int
	// The service (all versions): requests and errors per minute (0 for a
	// minute without a row after the stream's first row, NaN before it),
	// and the request-weighted p95 latency (NaN without latency).
	req, errs, lat []float64
	kpis           []baKPI
}

// baKPI is one declared KPI in the view.
type baKPI struct {
	name string
	dir  Direction
	kind KPIKind
	x    []float64 // segs·L values, NaN where absent
}

// lo returns the first minute of segment j.
func (v *baView) lo(start int64, b, j int) int64 {
	return start - int64(1440*j+v.span+b)
}

// cutBeforeAfter keeps the before/after view of the service: its series on
// the segments the pseudo-change points and their seasonal references need
// (replay_days + reference_days + 1 of them), minutes at or after the cut
// left out. A minute's service totals are the sum of the per-version rows
// of that minute when it has any, else the aggregate row (version ""): the
// aggregate is what a team's monitoring measured for the whole service and
// is not added to per-version rows. It assumes cutSeries checked the
// series.
func (w *Window) cutBeforeAfter(in *Input, cfg *Config) error {
	bc := &cfg.BeforeAfter
	v := &w.ba
	v.span = bc.ReplaySpanMinutes
	v.segs = bc.ReplayDays + bc.ReferenceDays + 1
	v.L = 2*v.span + w.B + w.H
	n := v.segs * v.L
	buf := make([]float64, 3*n)
	v.req, v.errs, v.lat = buf[:n:n], buf[n:2*n:2*n], buf[2*n:]
	sc := getBAScratch(n)
	defer putBAScratch(sc)
	latW := sc.g[:n] // request weights of lat, scratch until the end of the cut
	clear(latW)
	for i := range v.req {
		v.req[i] = math.NaN() // no row yet
	}
	cut := w.Cut()
	first := int64(math.MaxInt64)
	// Per-version rows first; then the aggregate fills the minutes they
	// leave empty.
	for _, aggregate := range [2]bool{false, true} {
		for k := range in.Series {
			sr := &in.Series[k]
			if (sr.Version == aggregateVersion) != aggregate {
				continue
			}
			if len(sr.Minutes) > 0 && sr.Minutes[0] < cut {
				first = min(first, sr.Minutes[0])
			}
			for j := 0; j < v.segs; j++ {
				lo := v.lo(w.start, w.B, j)
				hi := min(lo+int64(v.L), cut)
				i := sort.Search(len(sr.Minutes), func(i int) bool { return sr.Minutes[i] >= lo })
				for ; i < len(sr.Minutes) && sr.Minutes[i] < hi; i++ {
					x := j*v.L + int(sr.Minutes[i]-lo)
					req := sr.Requests[i]
					switch {
					case !math.IsNaN(v.req[x]) && aggregate:
						continue // the minute has per-version rows
					case math.IsNaN(v.req[x]):
						v.req[x] = 0
					}
					v.req[x] += req
					v.errs[x] += sr.Errors[i]
					if p95 := at(sr.P95, i); req > 0 && !math.IsNaN(p95) {
						v.lat[x] += req * p95
						latW[x] += req
					}
				}
			}
		}
	}
	for j := 0; j < v.segs; j++ {
		lo := v.lo(w.start, w.B, j)
		for i := 0; i < v.L; i++ {
			x, m := j*v.L+i, lo+int64(i)
			switch {
			case !math.IsNaN(v.req[x]):
				if latW[x] > 0 {
					v.lat[x] /= latW[x]
				} else {
					v.lat[x] = math.NaN()
				}
			case m >= first && m < cut:
				v.req[x], v.lat[x] = 0, math.NaN() // no row: no traffic
			default:
				v.req[x], v.errs[x], v.lat[x] = math.NaN(), math.NaN(), math.NaN()
			}
		}
	}
	v.kpis = v.kpis[:0]
	for k := range in.KPIs {
		kp := &in.KPIs[k]
		if err := checkKPI(kp); err != nil {
			return fmt.Errorf("features: deployment %s: %w", in.Deploy.ID, err)
		}
		x := make([]float64, n)
		for i := range x {
			x[i] = math.NaN()
		}
		for j := 0; j < v.segs; j++ {
			lo := v.lo(w.start, w.B, j)
			hi := min(lo+int64(v.L), cut)
			i := sort.Search(len(kp.Minutes), func(i int) bool { return kp.Minutes[i] >= lo })
			for ; i < len(kp.Minutes) && kp.Minutes[i] < hi; i++ {
				if val := kp.Values[i]; !math.IsInf(val, 0) {
					x[j*v.L+int(kp.Minutes[i]-lo)] = val
				}
			}
		}
		v.kpis = append(v.kpis, baKPI{name: kp.Name, dir: kp.Direction, kind: kp.Kind, x: x})
	}
	return nil
}

// aggregateVersion is the Version of a series (metrics) that covers all
// versions of the service, as teams without per-version data have it
// (internal/history's AggregateVersion).
const aggregateVersion = ""
