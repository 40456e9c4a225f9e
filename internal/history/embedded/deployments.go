package embedded

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// deployTable reads the deployments table of one generation lazily, row
// group by row group: a range read decodes only the row groups whose
// started_at statistics meet the range, and a lookup by ID scans the
// deployment_id column (allocating nothing) before decoding the one row
// group that holds it. Decoded row groups stay in memory for the life of
// the generation (a deployment is about 200 bytes).
type deployTable struct {
	path string

	once  sync.Once
	err   error
	spans []depSpan // by row group, in file order (started_at, ID)

	mu     sync.Mutex
	groups [][]history.Deployment // decoded row groups; nil until decoded

	streamsOnce sync.Once
	streamsErr  error
	streams     []history.Stream
}

// depSpan is the started_at span of a row group, in Unix microseconds.
type depSpan struct {
	lo, hi int64
	known  bool
}

func newDeployTable(path string) *deployTable { return &deployTable{path: path} }

// index reads the row groups' statistics once.
func (t *deployTable) index() error {
	t.once.Do(func() {
		c, err := openColumns(t.path)
		if err != nil {
			t.err = fmt.Errorf("embedded store: deployments: %w", err)
			return
		}
		defer c.Close()
		for g := range c.numGroups() {
			lo, hi, ok := c.bounds(g, "started_at")
			t.spans = append(t.spans, depSpan{lo: lo, hi: hi, known: ok})
		}
		t.groups = make([][]history.Deployment, len(t.spans))
	})
	return t.err
}

// decode decodes the row groups gs not decoded yet; t.mu is held.
func (t *deployTable) decode(gs []int) error {
	var c *columnFile
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for _, g := range gs {
		if t.groups[g] != nil {
			continue
		}
		if c == nil {
			var err error
			if c, err = openColumns(t.path); err != nil {
				return fmt.Errorf("embedded store: deployments: %w", err)
			}
			if c.numGroups() != len(t.spans) {
				return fmt.Errorf("embedded store: deployments: %s changed", t.path)
			}
		}
		d, err := loadDeployments(c, g)
		if err != nil {
			return fmt.Errorf("embedded store: deployments: %w", err)
		}
		t.groups[g] = d
	}
	return nil
}

// inRange returns the deployments whose StartedAt lies in r, ordered by
// StartedAt, then ID (a new slice).
func (t *deployTable) inRange(r history.Range) ([]history.Deployment, error) {
	if err := t.index(); err != nil {
		return nil, err
	}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !r.From.IsZero() {
		lo = r.From.UnixMicro() - 1 // stored times are whole microseconds; a From inside one excludes it below
	}
	if !r.Until.IsZero() {
		hi = r.Until.UnixMicro() + 1
	}
	var gs []int
	for g, sp := range t.spans {
		if !sp.known || sp.hi >= lo && sp.lo <= hi {
			gs = append(gs, g)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.decode(gs); err != nil {
		return nil, err
	}
	// Row groups are in (started_at, ID) order: the range is a slice of
	// each.
	type part struct{ g, a, b int }
	parts := make([]part, 0, len(gs))
	n := 0
	for _, g := range gs {
		ds := t.groups[g]
		a, b := 0, len(ds)
		if !r.From.IsZero() {
			a = sort.Search(len(ds), func(i int) bool { return !ds[i].StartedAt.Before(r.From) })
		}
		if !r.Until.IsZero() {
			b = sort.Search(len(ds), func(i int) bool { return !ds[i].StartedAt.Before(r.Until) })
		}
		if a < b {
			parts = append(parts, part{g, a, b})
			n += b - a
		}
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]history.Deployment, 0, n)
	for _, p := range parts {
		out = append(out, t.groups[p.g][p.a:p.b]...)
	}
	return out, nil
}

// all returns every deployment, ordered by StartedAt, then ID.
func (t *deployTable) all() ([]history.Deployment, error) { return t.inRange(history.Range{}) }

// byID returns the deployment with the id.
func (t *deployTable) byID(id string) (history.Deployment, bool, error) {
	if err := t.index(); err != nil {
		return history.Deployment{}, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ds := range t.groups {
		for i := range ds {
			if ds[i].ID == id {
				return ds[i], true, nil
			}
		}
	}
	var c *columnFile
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for g, ds := range t.groups {
		if ds != nil {
			continue
		}
		if c == nil {
			var err error
			if c, err = openColumns(t.path); err != nil {
				return history.Deployment{}, false, fmt.Errorf("embedded store: deployments: %w", err)
			}
		}
		k, err := c.findString(g, "deployment_id", id)
		if err != nil {
			return history.Deployment{}, false, fmt.Errorf("embedded store: deployments: %w", err)
		}
		if k < 0 {
			continue
		}
		if err := t.decode([]int{g}); err != nil {
			return history.Deployment{}, false, err
		}
		if k >= len(t.groups[g]) || t.groups[g][k].ID != id {
			return history.Deployment{}, false, fmt.Errorf("embedded store: deployments: %s: row %d of group %d is not %q", t.path, k, g, id)
		}
		return t.groups[g][k], true, nil
	}
	return history.Deployment{}, false, nil
}

// streamsOf returns the distinct (service, environment) pairs of the
// deployments, reading only those two (dictionary-encoded) columns.
func (t *deployTable) streamsOf() ([]history.Stream, error) {
	t.streamsOnce.Do(func() {
		c, err := openColumns(t.path)
		if err != nil {
			t.streamsErr = fmt.Errorf("embedded store: deployments: %w", err)
			return
		}
		defer c.Close()
		n := int(c.rows(-1))
		svc, err := c.strings(-1, "service", make([]string, 0, n))
		if err == nil {
			var env []string
			env, err = c.strings(-1, "environment", make([]string, 0, n))
			if err == nil {
				seen := map[history.Stream]bool{}
				for i := range svc {
					st := history.Stream{Service: svc[i], Environment: env[i]}
					if !seen[st] {
						seen[st] = true
						t.streams = append(t.streams, st)
					}
				}
			}
		}
		if err != nil {
			t.streamsErr = fmt.Errorf("embedded store: deployments: %w", err)
		}
	})
	return t.streams, t.streamsErr
}

// loadDeployments decodes row group g of the deployments table column by
// column.
func loadDeployments(c *columnFile, g int) ([]history.Deployment, error) {
	n := int(c.rows(g))
	var (
		str  [6][]string
		i64  [5][]int64
		kinf []bool
		err  error
	)
	for i, col := range []string{"deployment_id", "version", "commit_sha"} {
		if str[i], err = c.uniqueStrings(g, col, make([]string, 0, n)); err != nil {
			return nil, err
		}
	}
	for i, col := range []string{"service", "environment", "author"} {
		if str[3+i], err = c.strings(g, col, make([]string, 0, n)); err != nil {
			return nil, err
		}
	}
	kinds, err := c.strings(g, "kind", make([]string, 0, n))
	if err != nil {
		return nil, err
	}
	for i, col := range []string{"started_at", "files_changed", "lines_added", "lines_deleted"} {
		if i64[i], err = c.int64s(g, col, make([]int64, 0, n)); err != nil {
			return nil, err
		}
	}
	const null = -1 << 63
	if i64[4], err = c.optInt64s(g, "finished_at", null, make([]int64, 0, n)); err != nil {
		return nil, err
	}
	if kinf, err = c.bools(g, "kind_inferred", make([]bool, 0, n)); err != nil {
		return nil, err
	}
	out := make([]history.Deployment, n)
	for i := range out {
		d := history.Deployment{
			ID: str[0][i], Version: str[1][i], CommitSHA: str[2][i],
			Service: str[3][i], Environment: str[4][i], Author: str[5][i],
			StartedAt:    time.UnixMicro(i64[0][i]).UTC(),
			FilesChanged: i64[1][i], LinesAdded: i64[2][i], LinesDeleted: i64[3][i],
			Kind: history.Kind(kinds[i]), KindInferred: kinf[i],
		}
		if i64[4][i] != null {
			d.FinishedAt = time.UnixMicro(i64[4][i]).UTC()
		}
		out[i] = d
	}
	return out, nil
}
