package labeling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// This file holds the traffic and error signatures of one stream, loaded once
// for every function that declared needs.traffic, with range sums over them.

// seriesIndex answers range sums over one version's per-minute series.
type seriesIndex struct {
	minutes []int64
	// Prefix sums, length len(minutes)+1.
	req, errs     []float64
	w95, l95      []float64 // requests of minutes with p95, and p95×requests
	w99, l99      []float64
	latMins, mins []int64 // minutes with p95; minutes with requests
	// p95 is the series' per-minute p95 latency (history.Series.P95: NaN
	// when absent, possibly shorter than minutes).
	p95 []float64
}

func newSeriesIndex(s *history.Series) *seriesIndex {
	n := s.Len()
	x := &seriesIndex{minutes: s.Minutes, req: make([]float64, n+1), errs: make([]float64, n+1),
		w95: make([]float64, n+1), l95: make([]float64, n+1), w99: make([]float64, n+1), l99: make([]float64, n+1),
		latMins: make([]int64, n+1), mins: make([]int64, n+1), p95: s.P95}
	for i := range n {
		r := s.Requests[i]
		x.req[i+1] = x.req[i] + r
		x.errs[i+1] = x.errs[i] + s.Errors[i]
		x.w95[i+1], x.l95[i+1] = x.w95[i], x.l95[i]
		x.w99[i+1], x.l99[i+1] = x.w99[i], x.l99[i]
		x.latMins[i+1], x.mins[i+1] = x.latMins[i], x.mins[i]
		if r > 0 {
			x.mins[i+1]++
		}
		if i < len(s.P95) && r > 0 && !math.IsNaN(s.P95[i]) {
			x.w95[i+1] += float64(r)
			x.l95[i+1] += float64(r) * s.P95[i]
			x.latMins[i+1]++
		}
		if i < len(s.P99) && r > 0 && !math.IsNaN(s.P99[i]) {
			x.w99[i+1] += float64(r)
			x.l99[i+1] += float64(r) * s.P99[i]
		}
	}
	return x
}

// window holds sums over a range of minutes.
type window struct {
	req, errs          float64
	w95, l95, w99, l99 float64
	latMins, mins      int64
	lastMinute         int64 // last minute with requests; -1 when none
}

func (w *window) add(o window) {
	w.req += o.req
	w.errs += o.errs
	w.w95 += o.w95
	w.l95 += o.l95
	w.w99 += o.w99
	w.l99 += o.l99
	w.latMins += o.latMins
	w.mins += o.mins
	w.lastMinute = max(w.lastMinute, o.lastMinute)
}

func (w *window) p95() float64 { return ratioF(w.l95, w.w95) }
func (w *window) p99() float64 { return ratioF(w.l99, w.w99) }

func ratioF(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// sum returns the sums over minutes in [a, b).
func (x *seriesIndex) sum(a, b int64) window {
	lo, _ := slices.BinarySearch(x.minutes, a)
	hi, _ := slices.BinarySearch(x.minutes, b)
	w := window{lastMinute: -1}
	if hi <= lo {
		return w
	}
	w.req = x.req[hi] - x.req[lo]
	w.errs = x.errs[hi] - x.errs[lo]
	w.w95, w.l95 = x.w95[hi]-x.w95[lo], x.l95[hi]-x.l95[lo]
	w.w99, w.l99 = x.w99[hi]-x.w99[lo], x.l99[hi]-x.l99[lo]
	w.latMins, w.mins = x.latMins[hi]-x.latMins[lo], x.mins[hi]-x.mins[lo]
	for i := hi - 1; i >= lo; i-- {
		if x.req[i+1] > x.req[i] {
			w.lastMinute = x.minutes[i]
			break
		}
	}
	return w
}

// appendP95 appends the p95 latency of every minute in [a, b) that has one
// (and requests) to dst.
func (x *seriesIndex) appendP95(dst []float64, a, b int64) []float64 {
	lo, _ := slices.BinarySearch(x.minutes, a)
	hi, _ := slices.BinarySearch(x.minutes, b)
	for i := lo; i < min(hi, len(x.p95)); i++ {
		if x.req[i+1] > x.req[i] && !math.IsNaN(x.p95[i]) { // the minutes latMins counts
			dst = append(dst, x.p95[i])
		}
	}
	return dst
}

// streamData is the traffic and error signatures of one stream.
type streamData struct {
	versions map[string]*seriesIndex
	names    []string // versions, sorted
	// agg is the stream's aggregate series (all versions), nil when it
	// has none. It is no version's own, except where no other version
	// serves (ReplacedHealthyLF.ownRuledOut).
	agg *seriesIndex
	// kpis are the stream's declared KPIs with their aggregate values
	// (loaded with loadKPIs), sorted by name; kpisKnown is false when
	// they were not loaded or the history cannot give them.
	kpis       []kpiIndex
	kpisKnown  bool
	lastMinute int64 // last minute with any row; -1 when none
	// firstMinute is the first minute with any metrics row (the loaded
	// range's, so at most the history's first); -1 when none.
	firstMinute int64
	// Error signatures (loaded when a function needs them): minutes at which
	// each fingerprint occurred (any version), and each version's rows
	// ordered by minute.
	fpMinutes map[string][]int64
	sigs      map[string][]history.Signature
}

// version returns the sums of version v over [a, b).
func (sd *streamData) version(v string, a, b int64) window {
	if x := sd.versions[v]; x != nil {
		return x.sum(a, b)
	}
	return window{lastMinute: -1}
}

// others returns the sums of every version but v over [a, b).
func (sd *streamData) others(v string, a, b int64) window {
	w := window{lastMinute: -1}
	for _, name := range sd.names { // sorted: float sums in a fixed order
		if name != v {
			w.add(sd.versions[name].sum(a, b))
		}
	}
	return w
}

// versionP95 returns the per-minute p95 latencies of version v over [a, b).
func (sd *streamData) versionP95(v string, a, b int64) []float64 {
	if x := sd.versions[v]; x != nil {
		return x.appendP95(nil, a, b)
	}
	return nil
}

// othersP95 returns the per-minute p95 latencies of every version but v over
// [a, b): one value per version and minute.
func (sd *streamData) othersP95(v string, a, b int64) []float64 {
	var dst []float64
	for _, name := range sd.names {
		if name != v {
			dst = sd.versions[name].appendP95(dst, a, b)
		}
	}
	return dst
}

func loadStreamData(ctx context.Context, r history.Reader, s history.Stream, rng history.Range, withSigs bool) (*streamData, error) {
	series, err := r.Metrics(ctx, s, rng)
	if err != nil {
		return nil, fmt.Errorf("read metrics of %s/%s: %w", s.Service, s.Environment, err)
	}
	sd := &streamData{versions: make(map[string]*seriesIndex, len(series)), lastMinute: -1, firstMinute: -1}
	first := func(m int64) {
		if sd.firstMinute < 0 || m < sd.firstMinute {
			sd.firstMinute = m
		}
	}
	// The functions compare versions: an aggregate series (all versions,
	// as some teams record them) is not one of them, and is not the sum of
	// the per-version series either; it only shows how far the data reach.
	agg, perVersion := history.SplitAggregate(series)
	if agg != nil && agg.Len() > 0 {
		sd.lastMinute = agg.Minutes[agg.Len()-1]
		first(agg.Minutes[0])
		sd.agg = newSeriesIndex(agg)
	}
	for i := range perVersion {
		s := &perVersion[i]
		sd.versions[s.Version] = newSeriesIndex(s)
		sd.names = append(sd.names, s.Version)
		if n := s.Len(); n > 0 {
			sd.lastMinute = max(sd.lastMinute, s.Minutes[n-1])
			first(s.Minutes[0])
		}
	}
	slices.Sort(sd.names)
	if withSigs {
		rows, err := r.Signatures(ctx, s, rng)
		if err != nil {
			return nil, fmt.Errorf("read error signatures of %s/%s: %w", s.Service, s.Environment, err)
		}
		sd.fpMinutes = map[string][]int64{}
		sd.sigs = map[string][]history.Signature{}
		for _, row := range rows {
			m := history.UnixMinute(row.Minute)
			fm := sd.fpMinutes[row.Fingerprint]
			if len(fm) == 0 || fm[len(fm)-1] != m {
				sd.fpMinutes[row.Fingerprint] = append(fm, m)
			}
			sd.sigs[row.Version] = append(sd.sigs[row.Version], row)
		}
		for _, fm := range sd.fpMinutes {
			slices.Sort(fm)
		}
		for _, vs := range sd.sigs {
			sort.SliceStable(vs, func(a, b int) bool { return vs[a].Minute.Before(vs[b].Minute) })
		}
	}
	return sd, nil
}

// kpiIndex answers range means and variances over one KPI's aggregate
// series.
type kpiIndex struct {
	name    string
	dir     history.Direction
	minutes []int64
	// s1, s2 are prefix sums (length len(minutes)+1) of the values less
	// ref, the first value, and of their squares: shifted, so that a
	// variance small beside a large level (a throughput of millions) does
	// not cancel away.
	ref    float64
	s1, s2 []float64
}

// kpiWindow holds the count, mean and variance of a KPI over a range.
type kpiWindow struct{ n, mean, variance float64 }

func (x *kpiIndex) sum(a, b int64) kpiWindow {
	i, _ := slices.BinarySearch(x.minutes, a)
	j, _ := slices.BinarySearch(x.minutes, b)
	n := float64(j - i)
	if n == 0 {
		return kpiWindow{}
	}
	s1, s2 := x.s1[j]-x.s1[i], x.s2[j]-x.s2[i]
	m := s1 / n // of the shifted values
	v := 0.0
	if n > 1 {
		v = max(0, (s2-n*m*m)/(n-1))
	}
	return kpiWindow{n: n, mean: x.ref + m, variance: v}
}

// kpiSource is what loadKPIs needs of the history: the KPIReader of
// every store.
type kpiSource interface {
	KPIValues(ctx context.Context, s history.Stream, r history.Range) ([]history.KPISeries, error)
}

// loadKPIs loads the stream's declared KPIs (decls: every declaration of
// the history) with their aggregate series over rng. A declared KPI with
// no aggregate values is kept, empty: it cannot be judged.
func (sd *streamData) loadKPIs(ctx context.Context, src kpiSource, decls []history.KPI, s history.Stream, rng history.Range) error {
	var declared []history.KPI // in force on s (history.KPIOf), one per name
	for _, d := range decls {
		if d.Service != s.Service || slices.ContainsFunc(declared, func(k history.KPI) bool { return k.Name == d.Name }) {
			continue
		}
		if k, ok := history.KPIOf(decls, s, d.Name); ok {
			declared = append(declared, k)
		}
	}
	slices.SortFunc(declared, func(a, b history.KPI) int { return strings.Compare(a.Name, b.Name) })
	sd.kpisKnown = true
	if len(declared) == 0 {
		return nil
	}
	series, err := src.KPIValues(ctx, s, rng)
	if err != nil {
		return fmt.Errorf("read KPI values of %s/%s: %w", s.Service, s.Environment, err)
	}
	agg := map[string]*history.KPISeries{}
	for i := range series {
		if series[i].Version == history.AggregateVersion {
			agg[series[i].Name] = &series[i]
		}
	}
	for _, k := range declared {
		sd.kpis = append(sd.kpis, newKPIIndex(k, agg[k.Name]))
	}
	return nil
}

// newKPIIndex indexes the aggregate series ks (nil: none) of KPI k.
func newKPIIndex(k history.KPI, ks *history.KPISeries) kpiIndex {
	x := kpiIndex{name: k.Name, dir: k.Direction, s1: []float64{0}, s2: []float64{0}}
	if ks == nil || ks.Len() == 0 {
		return x
	}
	x.minutes, x.ref = ks.Minutes, ks.Values[0]
	for _, v := range ks.Values {
		v -= x.ref
		x.s1 = append(x.s1, x.s1[len(x.s1)-1]+v)
		x.s2 = append(x.s2, x.s2[len(x.s2)-1]+v*v)
	}
	return x
}

// aggregateOnly reports whether the stream's metrics are one aggregate
// series and no per-version ones.
func (sd *streamData) aggregateOnly() bool { return sd.agg != nil && len(sd.names) == 0 }

// seenIn reports whether fingerprint fp occurred in [a, b).
func (sd *streamData) seenIn(fp string, a, b int64) bool {
	fm := sd.fpMinutes[fp]
	i, _ := slices.BinarySearch(fm, a)
	return i < len(fm) && fm[i] < b
}

// newSignatures calls f, in minute order, with the minute and count of
// every error-signature row of version v in minutes [a, b) whose
// fingerprint the stream did not log in [look, a): the one rule of what a
// new fingerprint is. f returns false to stop.
func (sd *streamData) newSignatures(v string, a, b, look int64, f func(minute, count int64) bool) {
	rows := sd.sigs[v]
	i := sort.Search(len(rows), func(i int) bool { return history.UnixMinute(rows[i].Minute) >= a })
	known := map[string]bool{}
	for ; i < len(rows); i++ {
		m := history.UnixMinute(rows[i].Minute)
		if m >= b {
			return
		}
		fp := rows[i].Fingerprint
		old, checked := known[fp]
		if !checked {
			old = sd.seenIn(fp, look, a)
			known[fp] = old
		}
		if !old && !f(m, rows[i].Count) {
			return
		}
	}
}

// startMinute is the first whole minute at or after the deploy's start.
func startMinute(t time.Time) int64 {
	m := history.UnixMinute(t)
	if history.MinuteTime(m).Before(t) {
		m++
	}
	return m
}
