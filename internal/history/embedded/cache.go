package embedded

import (
	"container/list"
	"sort"
	"sync"

	"github.com/faultline-dev/faultline/internal/history"
)

// fileKind says which table a stream file holds.
type fileKind uint8

const (
	kindMetrics fileKind = iota
	kindSignatures
	kindKPIValues
)

// groupKey names one decoded unit of a stream file: row group g, or the
// whole file when g < 0 (files of layout formats 1 and 2 whose rows are
// not in time order).
type groupKey struct {
	path string
	g    int
}

// groupSpan is a unit of a file and the minutes its rows cover.
type groupSpan struct {
	g      int
	lo, hi int64 // smallest and largest minute, when known
	known  bool
}

// fileIndex lists the units of a stream file, in time order.
type fileIndex struct {
	spans []groupSpan
}

// overlapping returns the spans that may hold minutes in [lo, hi); all of
// them when whole is set.
func (x *fileIndex) overlapping(lo, hi int64, whole bool) []groupSpan {
	if whole {
		return x.spans
	}
	var out []groupSpan
	for _, sp := range x.spans {
		if !sp.known || sp.hi >= lo && sp.lo < hi {
			out = append(out, sp)
		}
	}
	return out
}

// indexFile builds the index of an open stream file: one span per row
// group when the file is in row groups by time (layout format 3, and
// signature files of every format), else one span for the whole file.
func indexFile(c *columnFile, kind fileKind) *fileIndex {
	x := &fileIndex{}
	if kind == kindSignatures || c.meta(layoutKey) == layoutByDay {
		for g := range c.numGroups() {
			lo, hi, ok := c.bounds(g, "minute")
			x.spans = append(x.spans, groupSpan{g: g, lo: lo, hi: hi, known: ok})
		}
		return x
	}
	whole := groupSpan{g: -1, lo: 1 << 62, hi: -1 << 62, known: c.numGroups() > 0}
	for g := range c.numGroups() {
		lo, hi, ok := c.bounds(g, "minute")
		whole.known = whole.known && ok
		whole.lo, whole.hi = min(whole.lo, lo), max(whole.hi, hi)
	}
	x.spans = []groupSpan{whole}
	return x
}

// streamCache keeps decoded units of stream files (row groups, or whole
// files of older layouts) and the index of every file opened. Data files
// are immutable, so an entry never goes stale; least recently used units
// are dropped beyond maxRows (the last one read is always kept).
type streamCache struct {
	mu      sync.Mutex
	maxRows int64
	rows    int64
	lru     *list.List // of *cacheEntry, front = most recent
	byKey   map[groupKey]*list.Element
	loading map[groupKey]*loadCall
	index   map[string]*fileIndex
}

type cacheEntry struct {
	key    groupKey
	rows   int64
	series []history.Series    // metrics
	sigs   []signatureRow      // signatures
	kpis   []history.KPISeries // KPI values
}

type loadCall struct {
	done chan struct{}
	e    *cacheEntry
	err  error
}

func newStreamCache(maxRows int64) *streamCache {
	return &streamCache{maxRows: maxRows, lru: list.New(), byKey: map[groupKey]*list.Element{},
		loading: map[groupKey]*loadCall{}, index: map[string]*fileIndex{}}
}

// read returns the decoded units of the stream file at path that may hold
// minutes in [lo, hi) (every unit when whole is set), in time order. Units
// not cached are decoded, each once even under concurrent callers; the
// file is opened only when its index is unknown or a unit must be decoded.
func (c *streamCache) read(path string, kind fileKind, lo, hi int64, whole bool) ([]*cacheEntry, error) {
	var cf *columnFile
	defer func() {
		if cf != nil {
			cf.Close()
		}
	}()
	c.mu.Lock()
	idx := c.index[path]
	c.mu.Unlock()
	if idx == nil {
		var err error
		if cf, err = openColumns(path); err != nil {
			return nil, err
		}
		idx = indexFile(cf, kind)
		c.mu.Lock()
		c.index[path] = idx
		c.mu.Unlock()
	}
	spans := idx.overlapping(lo, hi, whole)
	entries := make([]*cacheEntry, len(spans))
	calls := make([]*loadCall, len(spans))
	var mine []int
	c.mu.Lock()
	for i, sp := range spans {
		k := groupKey{path: path, g: sp.g}
		if el, ok := c.byKey[k]; ok {
			c.lru.MoveToFront(el)
			entries[i] = el.Value.(*cacheEntry)
		} else if lc, ok := c.loading[k]; ok {
			calls[i] = lc
		} else {
			lc := &loadCall{done: make(chan struct{})}
			c.loading[k] = lc
			calls[i] = lc
			mine = append(mine, i)
		}
	}
	c.mu.Unlock()

	var err error
	if len(mine) > 0 {
		if cf == nil {
			cf, err = openColumns(path)
		}
		if err == nil {
			gs := make([]int, len(mine))
			for k, i := range mine {
				gs[k] = spans[i].g
			}
			err = cf.prefetch(gs...)
		}
	}
	for _, i := range mine {
		k := groupKey{path: path, g: spans[i].g}
		var e *cacheEntry
		if err == nil {
			e, err = decodeUnit(cf, kind, k.g)
		}
		c.publish(k, calls[i], e, err)
	}
	for i, lc := range calls {
		if lc == nil {
			continue
		}
		<-lc.done
		if lc.err != nil {
			return nil, lc.err
		}
		entries[i] = lc.e
	}
	return entries, nil
}

// publish ends the load of unit k: the entry joins the cache (or the error
// is reported to the callers waiting for it).
func (c *streamCache) publish(k groupKey, lc *loadCall, e *cacheEntry, err error) {
	lc.e, lc.err = e, err
	c.mu.Lock()
	delete(c.loading, k)
	if err == nil {
		e.key = k
		c.byKey[k] = c.lru.PushFront(e)
		c.rows += e.rows
		for c.rows > c.maxRows && c.lru.Len() > 1 {
			el := c.lru.Back()
			old := el.Value.(*cacheEntry)
			c.lru.Remove(el)
			delete(c.byKey, old.key)
			c.rows -= old.rows
		}
	}
	c.mu.Unlock()
	close(lc.done)
}

// decodeUnit decodes unit g of an open stream file.
func decodeUnit(c *columnFile, kind fileKind, g int) (*cacheEntry, error) {
	switch kind {
	case kindMetrics:
		return loadMetrics(c, g)
	case kindSignatures:
		return loadSignatures(c, g)
	default:
		return loadKPIValues(c, g)
	}
}

// readWhole decodes every unit of the stream file at path, without the
// cache (imports merge a stream's stored rows once).
func readWhole(path string, kind fileKind) ([]*cacheEntry, error) {
	c, err := openColumns(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	idx := indexFile(c, kind)
	if err := c.prefetch(-1); err != nil {
		return nil, err
	}
	out := make([]*cacheEntry, len(idx.spans))
	for i, sp := range idx.spans {
		if out[i], err = decodeUnit(c, kind, sp.g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadMetrics decodes unit g of a metrics file (sorted by version, minute)
// into one series per version, column by column.
func loadMetrics(c *columnFile, g int) (*cacheEntry, error) {
	n := int(c.rows(g))
	versions, err := c.strings(g, "version", make([]string, 0, n))
	if err != nil {
		return nil, err
	}
	minutes, err := c.int64s(g, "minute", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	req, err := c.numbers(g, "requests", make([]float64, 0, n))
	if err != nil {
		return nil, err
	}
	errs, err := c.numbers(g, "errors", make([]float64, 0, n))
	if err != nil {
		return nil, err
	}
	var p [3][]float64
	for i, col := range []string{"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
		if p[i], err = c.float64s(g, col, make([]float64, 0, n)); err != nil {
			return nil, err
		}
	}
	var out []history.Series
	for i := 0; i < n; {
		j := i
		for j < n && versions[j] == versions[i] {
			j++
		}
		// Full slice expressions: appending to one series never overwrites the next.
		out = append(out, history.Series{
			Version:  versions[i],
			Minutes:  minutes[i:j:j],
			Requests: req[i:j:j],
			Errors:   errs[i:j:j],
			P50:      p[0][i:j:j],
			P95:      p[1][i:j:j],
			P99:      p[2][i:j:j],
		})
		i = j
	}
	return &cacheEntry{rows: int64(n), series: out}, nil
}

// loadKPIValues decodes unit g of a KPI values file (sorted by name,
// version, minute) into one series per (name, version).
func loadKPIValues(c *columnFile, g int) (*cacheEntry, error) {
	n := int(c.rows(g))
	names, err := c.strings(g, "name", make([]string, 0, n))
	if err != nil {
		return nil, err
	}
	versions, err := c.strings(g, "version", make([]string, 0, n))
	if err != nil {
		return nil, err
	}
	minutes, err := c.int64s(g, "minute", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	values, err := c.float64s(g, "value", make([]float64, 0, n))
	if err != nil {
		return nil, err
	}
	var out []history.KPISeries
	for i := 0; i < n; {
		j := i
		for j < n && names[j] == names[i] && versions[j] == versions[i] {
			j++
		}
		out = append(out, history.KPISeries{Name: names[i], Version: versions[i], Minutes: minutes[i:j:j], Values: values[i:j:j]})
		i = j
	}
	return &cacheEntry{rows: int64(n), kpis: out}, nil
}

// loadSignatures decodes unit g of a signatures file (sorted by minute,
// version, fingerprint).
func loadSignatures(c *columnFile, g int) (*cacheEntry, error) {
	n := int(c.rows(g))
	minutes, err := c.int64s(g, "minute", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	counts, err := c.int64s(g, "count", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	status, err := c.int32s(g, "status_code", make([]int32, 0, n))
	if err != nil {
		return nil, err
	}
	var str [4][]string
	for i, col := range []string{"version", "fingerprint", "error_type", "endpoint"} {
		if str[i], err = c.strings(g, col, make([]string, 0, n)); err != nil {
			return nil, err
		}
	}
	rows := make([]signatureRow, n)
	for i := range rows {
		rows[i] = signatureRow{Minute: minutes[i], Version: str[0][i], Fingerprint: str[1][i], Count: counts[i],
			ErrorType: str[2][i], Endpoint: str[3][i], StatusCode: status[i]}
	}
	return &cacheEntry{rows: int64(n), sigs: rows}, nil
}

// minuteRange returns the indices [a, b) of the minutes of ms (ascending)
// in [lo, hi).
func minuteRange(ms []int64, lo, hi int64) (a, b int) {
	a = sort.Search(len(ms), func(j int) bool { return ms[j] >= lo })
	b = a + sort.Search(len(ms)-a, func(j int) bool { return ms[a+j] >= hi })
	return a, b
}

// seriesPart is the rows [a, b) of a decoded series.
type seriesPart struct {
	s    *history.Series
	a, b int
}

// assembleSeries returns the series of entries (units in time order) with
// minutes in [lo, hi), sorted by version: each version's runs are
// concatenated in unit order, into one new backing array per column.
func assembleSeries(entries []*cacheEntry, lo, hi int64) []history.Series {
	slot := map[string]int{}
	var versions []string
	var parts [][]seriesPart
	total := 0
	for _, e := range entries {
		for k := range e.series {
			f := &e.series[k]
			a, b := minuteRange(f.Minutes, lo, hi)
			if a >= b {
				continue
			}
			j, ok := slot[f.Version]
			if !ok {
				j = len(versions)
				slot[f.Version] = j
				versions = append(versions, f.Version)
				parts = append(parts, nil)
			}
			parts[j] = append(parts[j], seriesPart{s: f, a: a, b: b})
			total += b - a
		}
	}
	if total == 0 {
		return nil
	}
	order := make([]int, len(versions))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return versions[order[i]] < versions[order[j]] })
	minutes := make([]int64, total)
	var cols [5][]float64
	for i := range cols {
		cols[i] = make([]float64, total)
	}
	out := make([]history.Series, 0, len(versions))
	at := 0
	for _, j := range order {
		start := at
		for _, p := range parts[j] {
			n := p.b - p.a
			copy(minutes[at:], p.s.Minutes[p.a:p.b])
			copy(cols[0][at:], p.s.Requests[p.a:p.b])
			copy(cols[1][at:], p.s.Errors[p.a:p.b])
			copy(cols[2][at:], p.s.P50[p.a:p.b])
			copy(cols[3][at:], p.s.P95[p.a:p.b])
			copy(cols[4][at:], p.s.P99[p.a:p.b])
			at += n
		}
		out = append(out, history.Series{Version: versions[j], Minutes: minutes[start:at:at],
			Requests: cols[0][start:at:at], Errors: cols[1][start:at:at],
			P50: cols[2][start:at:at], P95: cols[3][start:at:at], P99: cols[4][start:at:at]})
	}
	return out
}

// assembleKPIs is assembleSeries for KPI series, sorted by name, version.
func assembleKPIs(entries []*cacheEntry, lo, hi int64) []history.KPISeries {
	type key struct{ name, version string }
	type part struct {
		s    *history.KPISeries
		a, b int
	}
	slot := map[key]int{}
	var keys []key
	var parts [][]part
	total := 0
	for _, e := range entries {
		for k := range e.kpis {
			f := &e.kpis[k]
			a, b := minuteRange(f.Minutes, lo, hi)
			if a >= b {
				continue
			}
			kk := key{f.Name, f.Version}
			j, ok := slot[kk]
			if !ok {
				j = len(keys)
				slot[kk] = j
				keys = append(keys, kk)
				parts = append(parts, nil)
			}
			parts[j] = append(parts[j], part{s: f, a: a, b: b})
			total += b - a
		}
	}
	if total == 0 {
		return nil
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := keys[order[i]], keys[order[j]]
		if a.name != b.name {
			return a.name < b.name
		}
		return a.version < b.version
	})
	minutes, values := make([]int64, total), make([]float64, total)
	out := make([]history.KPISeries, 0, len(keys))
	at := 0
	for _, j := range order {
		start := at
		for _, p := range parts[j] {
			copy(minutes[at:], p.s.Minutes[p.a:p.b])
			copy(values[at:], p.s.Values[p.a:p.b])
			at += p.b - p.a
		}
		out = append(out, history.KPISeries{Name: keys[j].name, Version: keys[j].version,
			Minutes: minutes[start:at:at], Values: values[start:at:at]})
	}
	return out
}

// signatureRows returns the rows of entries (units in time order) with
// minutes in [lo, hi), in the file's order.
func signatureRows(entries []*cacheEntry, lo, hi int64, fn func(r *signatureRow)) int {
	n := 0
	for _, e := range entries {
		rows := e.sigs
		a := sort.Search(len(rows), func(j int) bool { return rows[j].Minute >= lo })
		b := sort.Search(len(rows), func(j int) bool { return rows[j].Minute >= hi })
		for i := a; i < b; i++ {
			if fn != nil {
				fn(&rows[i])
			}
			n++
		}
	}
	return n
}
