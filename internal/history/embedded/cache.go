package embedded

import (
	"container/list"
	"sync"

	"github.com/faultline-dev/faultline/internal/history"
)

// streamCache keeps decoded stream files, keyed by path. Data files are
// immutable, so an entry never goes stale; least recently used entries are
// dropped beyond maxRows (the last one read is always kept).
type streamCache struct {
	mu      sync.Mutex
	maxRows int64
	rows    int64
	lru     *list.List // of *cacheEntry, front = most recent
	byPath  map[string]*list.Element
	loading map[string]*loadCall
}

type cacheEntry struct {
	path   string
	rows   int64
	series []history.Series // metrics file
	sigs   []signatureRow   // signatures file
}

type loadCall struct {
	done chan struct{}
	e    *cacheEntry
	err  error
}

func newStreamCache(maxRows int64) *streamCache {
	return &streamCache{maxRows: maxRows, lru: list.New(), byPath: map[string]*list.Element{}, loading: map[string]*loadCall{}}
}

// get returns the entry for path, loading it once even under concurrent
// callers.
func (c *streamCache) get(path string, load func(string) (*cacheEntry, error)) (*cacheEntry, error) {
	c.mu.Lock()
	if el, ok := c.byPath[path]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*cacheEntry), nil
	}
	if lc, ok := c.loading[path]; ok {
		c.mu.Unlock()
		<-lc.done
		return lc.e, lc.err
	}
	lc := &loadCall{done: make(chan struct{})}
	c.loading[path] = lc
	c.mu.Unlock()

	lc.e, lc.err = load(path)
	c.mu.Lock()
	delete(c.loading, path)
	if lc.err == nil {
		lc.e.path = path
		c.byPath[path] = c.lru.PushFront(lc.e)
		c.rows += lc.e.rows
		for c.rows > c.maxRows && c.lru.Len() > 1 {
			el := c.lru.Back()
			e := el.Value.(*cacheEntry)
			c.lru.Remove(el)
			delete(c.byPath, e.path)
			c.rows -= e.rows
		}
	}
	c.mu.Unlock()
	close(lc.done)
	return lc.e, lc.err
}

func (c *streamCache) metrics(path string) ([]history.Series, error) {
	e, err := c.get(path, loadMetrics)
	if err != nil {
		return nil, err
	}
	return e.series, nil
}

func (c *streamCache) signatures(path string) ([]signatureRow, error) {
	e, err := c.get(path, loadSignatures)
	if err != nil {
		return nil, err
	}
	return e.sigs, nil
}

// loadMetrics decodes a stream's metrics file (sorted by version, minute)
// into one full series per version, column by column.
func loadMetrics(path string) (*cacheEntry, error) {
	c, err := openColumns(path)
	if err != nil {
		return nil, err
	}
	n := int(c.rows())
	versions, err := c.strings("version", make([]string, 0, n))
	if err != nil {
		return nil, err
	}
	minutes, err := c.int64s("minute", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	req, err := c.int64s("requests", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	errs, err := c.int64s("errors", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	var p [3][]float64
	for i, col := range []string{"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
		if p[i], err = c.float64s(col, make([]float64, 0, n)); err != nil {
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

// rowsToSeries groups rows sorted by version, minute into series.
func rowsToSeries(rows []metricRow) []history.Series {
	var out []history.Series
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].Version == rows[i].Version {
			j++
		}
		n := j - i
		s := history.Series{
			Version:  rows[i].Version,
			Minutes:  make([]int64, n),
			Requests: make([]int64, n),
			Errors:   make([]int64, n),
			P50:      make([]float64, n),
			P95:      make([]float64, n),
			P99:      make([]float64, n),
		}
		for k, r := range rows[i:j] {
			s.Minutes[k], s.Requests[k], s.Errors[k] = r.Minute, r.Requests, r.Errors
			s.P50[k], s.P95[k], s.P99[k] = r.P50, r.P95, r.P99
		}
		out = append(out, s)
		i = j
	}
	return out
}

func loadSignatures(path string) (*cacheEntry, error) {
	c, err := openColumns(path)
	if err != nil {
		return nil, err
	}
	n := int(c.rows())
	minutes, err := c.int64s("minute", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	counts, err := c.int64s("count", make([]int64, 0, n))
	if err != nil {
		return nil, err
	}
	status, err := c.int32s("status_code", make([]int32, 0, n))
	if err != nil {
		return nil, err
	}
	var str [4][]string
	for i, col := range []string{"version", "fingerprint", "error_type", "endpoint"} {
		if str[i], err = c.strings(col, make([]string, 0, n)); err != nil {
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
