package promsource

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
)

// DetectedDeployment is a deploy event found by the mapping's deployments
// recipe.
type DetectedDeployment struct {
	ID          string
	Service     string
	Environment string
	Version     string
	StartedAt   time.Time // the first minute the version had a value
}

// DeploymentID is the id given to a detected deployment: stable, so that
// importing the same range again upserts the same rows.
func DeploymentID(service, environment, version string, start time.Time) string {
	return fmt.Sprintf("prom-%s-%s-%s-%s", service, environment, version, start.UTC().Format("20060102T1504Z"))
}

// DetectDeployments runs the deployments recipe over minutes [from, to)
// (plus MinGap before from, to see what ran then) and returns the
// deployments that started in [from, to), ordered by start, service,
// environment. w restricts it to one environment or stream (zero: all).
func (c *Client) DetectDeployments(ctx context.Context, from, to int64, w want) ([]DetectedDeployment, error) {
	r := c.m.Deployments
	if r == nil {
		return nil, fmt.Errorf("the mapping has no deployments recipe")
	}
	gap := int64(time.Duration(r.MinGap) / time.Minute)
	lo := from - gap
	if lo >= to {
		return nil, nil
	}
	expr := expand(r.Query, c.filterFor(w))
	// Presence of every version over [lo, to).
	present := map[key][]bool{}
	kr := c.m.deployKeyer()
	chunks := c.chunks(lo, to)
	err := c.fetch(ctx, []string{expr}, chunks, func(i int, res []model.Matrix) error {
		sp := chunks[i]
		g, err := collect(res[0], kr, w, sp, r.Query)
		if err != nil {
			return err
		}
		for k, vals := range g {
			p := present[k]
			if p == nil {
				p = make([]bool, to-lo)
				present[k] = p
			}
			for j, v := range vals {
				if !math.IsNaN(v) {
					p[sp.from-lo+int64(j)] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Per stream, the minutes when any version was present.
	byStream := map[history.Stream][]int32{} // count of versions present per minute
	for k, p := range present {
		s := k.stream()
		cnt := byStream[s]
		if cnt == nil {
			cnt = make([]int32, to-lo)
			byStream[s] = cnt
		}
		for j, ok := range p {
			if ok {
				cnt[j]++
			}
		}
	}
	var out []DetectedDeployment
	for k, p := range present {
		cnt := byStream[k.stream()]
		lastSeen := int64(math.MinInt64 / 2) // index of the version's last present minute
		for j := int64(0); j < int64(len(p)); j++ {
			if !p[j] {
				continue
			}
			if j-lastSeen > gap && lo+j >= from {
				// Another version ran in the gap before: a deploy, not
				// the start of the stream's history.
				other := false
				for i := max(0, j-gap); i < j && !other; i++ {
					other = cnt[i] > 0 // this version was absent: the count is others'
				}
				if other {
					t := history.MinuteTime(lo + j)
					out = append(out, DetectedDeployment{ID: DeploymentID(k[0], k[1], k[2], t),
						Service: k[0], Environment: k[1], Version: k[2], StartedAt: t})
				}
			}
			lastSeen = j
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.Before(b.StartedAt)
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.Version < b.Version
	})
	return out, nil
}

// filterFor renders $filter for w.
func (c *Client) filterFor(w want) string {
	var kv []string
	if w.service != "" {
		kv = append(kv, c.m.Labels.Service, w.service)
	}
	if w.environment != "" {
		kv = append(kv, c.m.Labels.Environment, w.environment)
	}
	return c.m.matchers(kv...)
}
