package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/promsource"
)

// liveCheckFlags are check's flags for judging a deploy from Prometheus.
type liveCheckFlags struct {
	promURL, mapping                         string
	service, environment, version, startedAt string
	at                                       string
	wait                                     bool
}

func (l *liveCheckFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&l.promURL, "prometheus", "", "judge live from the Prometheus-compatible query API at `URL`")
	fs.StringVar(&l.mapping, "mapping", "", "YAML mapping `FILE` of the series (docs/prometheus.md); needed with --prometheus")
	fs.StringVar(&l.service, "service", "", "the deploy's `SERVICE` (with --prometheus, when it is not in the store)")
	fs.StringVar(&l.environment, "environment", "", "the deploy's `ENV`")
	fs.StringVar(&l.version, "version", "", "the `VERSION` it rolls out")
	fs.StringVar(&l.startedAt, "started-at", "", "rollout start `T`, RFC 3339, or now (when the check starts with the rollout)")
	fs.StringVar(&l.at, "at", "", "judge as of `T` (RFC 3339) instead of now: a replay")
	fs.BoolVar(&l.wait, "wait", false, "look at each horizon (10, 20, 60 min) until the verdict is final, printing each look")
}

func (l *liveCheckFlags) enabled() bool { return l.promURL != "" || l.mapping != "" }

func (l *liveCheckFlags) given() bool {
	return l.service != "" || l.environment != "" || l.version != "" || l.startedAt != "" || l.at != "" || l.wait
}

// liveLook is one look of a live check, for --json.
type liveLook struct {
	Horizon   int                 `json:"horizon,omitempty"` // the horizon waited for; 0 for a single look
	DataUntil time.Time           `json:"data_until"`        // minutes before it were read
	Verdict   string              `json:"verdict"`
	Final     bool                `json:"final"`
	P         map[string]*float64 `json:"p"` // by horizon; null before it has data
}

func runLiveCheck(ctx context.Context, e *env, l *liveCheckFlags, deployment, model, workdir string, workers int, asJSON bool) error {
	if l.mapping == "" {
		return usageError("--prometheus needs --mapping FILE (docs/prometheus.md)")
	}
	m, err := promsource.LoadMapping(l.mapping)
	if err != nil {
		return usageError("%v", err)
	}
	client, err := promsource.NewClient(m, l.promURL)
	if err != nil {
		return usageError("%v", err)
	}
	client.OnRetry = e.logRetry
	var replay time.Time
	if l.at != "" {
		t, err := time.Parse(time.RFC3339, l.at)
		if err != nil {
			return usageError("--at %q: want RFC 3339", l.at)
		}
		replay = t.UTC()
	}
	// Without a production model the statistical checks judge, as for a
	// check from the store.
	d, fallback, store, err := e.detectorAndStore(ctx, model)
	if err != nil {
		return err
	}
	dep, err := liveDeployment(ctx, store, l, deployment)
	if err != nil {
		return err
	}
	horizons := func() []int {
		if fallback {
			return horizonsSorted(e.set.Features.Horizons)
		}
		return d.Horizons()
	}()
	delay := time.Duration(m.Query.Delay)
	// complete is the first minute not yet complete at wall time now.
	complete := func(now time.Time) int64 {
		if !replay.IsZero() {
			return history.UnixMinute(replay)
		}
		return history.UnixMinute(now.Add(-delay))
	}
	s := history.UnixMinute(dep.StartedAt)
	look := func(at int64) (*batch.Row, error) {
		reader := promsource.NewLive(client, store, dep, history.MinuteTime(at))
		opts := batch.Options{Scratch: e.workdir(workdir), Workers: workers}
		var row *batch.Row
		var err error
		if fallback {
			row, err = batch.CheckStatistical(ctx, reader, e.set.Features, dep.ID, opts)
		} else {
			row, err = batch.Check(ctx, reader, d, dep.ID, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("check %s from %s: %w", dep.ID, client.URL(), err)
		}
		return row, nil
	}

	var looks []liveLook
	var row *batch.Row
	record := func(h int, at int64, r *batch.Row) {
		lk := liveLook{Horizon: h, DataUntil: history.MinuteTime(at), Verdict: r.Result.Verdict, Final: r.Result.Final, P: map[string]*float64{}}
		var ps []string
		for _, hh := range horizons {
			p := r.P[hh]
			if math.IsNaN(p) {
				lk.P[strconv.Itoa(hh)] = nil
				continue
			}
			lk.P[strconv.Itoa(hh)] = &p
			ps = append(ps, fmt.Sprintf("p%d=%.3f", hh, p))
		}
		looks = append(looks, lk)
		if !asJSON && l.wait {
			so := ""
			if !lk.Final {
				so = " so far"
			}
			what := fmt.Sprintf("look at %d min", h)
			if h == 0 {
				what = "look"
			}
			fmt.Fprintf(e.stdout, "%s (data to %s): %s%s  %s\n", what, lk.DataUntil.Format("2006-01-02T15:04Z"), lk.Verdict, so, strings.Join(ps, " "))
		}
	}
	if !l.wait {
		at := complete(time.Now())
		if row, err = look(at); err != nil {
			return err
		}
		record(0, at, row)
	} else {
		for _, h := range horizons {
			target := s + int64(h)
			if !replay.IsZero() && target > complete(time.Time{}) {
				break // the replay's clock does not reach this look
			}
			if replay.IsZero() {
				if wait := time.Until(history.MinuteTime(target).Add(delay)); wait > 0 {
					e.log.Info("waiting for the next look", slog.String("deployment", dep.ID), slog.Int("horizon", h),
						slog.Time("at", time.Now().Add(wait).Truncate(time.Second)))
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			if row, err = look(target); err != nil {
				return err
			}
			record(h, target, row)
			if row.Result.Final {
				break
			}
		}
		if row == nil { // a replay before the first horizon: one look now
			at := complete(time.Time{})
			if row, err = look(at); err != nil {
				return err
			}
			record(0, at, row)
		}
	}
	res := row.Result
	source := sourceModel
	if fallback {
		source = sourceStatistics
	}
	if asJSON {
		if err := e.writeJSON(struct {
			DeploymentID string    `json:"deployment_id"`
			Service      string    `json:"service"`
			Environment  string    `json:"environment"`
			Version      string    `json:"version"`
			StartedAt    time.Time `json:"started_at"`
			Source       string    `json:"source"`
			Prometheus   string    `json:"prometheus"`
			DataUntil    time.Time `json:"data_until"`
			*detector.Result
			Looks []liveLook `json:"looks"`
		}{dep.ID, dep.Service, dep.Environment, dep.Version, dep.StartedAt, source, client.URL(), looks[len(looks)-1].DataUntil, res, looks}); err != nil {
			return err
		}
	} else {
		if l.wait {
			fmt.Fprintln(e.stdout)
		}
		if fallback {
			printStatisticalCheck(e, row)
		} else {
			printCheck(e, d, row)
		}
	}
	return verdictExit(res)
}

// liveDeployment is the deploy to judge: from the flags, or the store's.
func liveDeployment(ctx context.Context, store history.Reader, l *liveCheckFlags, id string) (history.Deployment, error) {
	given := []string{l.service, l.environment, l.version, l.startedAt}
	n := 0
	for _, v := range given {
		if v != "" {
			n++
		}
	}
	if n > 0 && n < len(given) {
		return history.Deployment{}, usageError("give all of --service, --environment, --version and --started-at, or none (to take --deployment from the store)")
	}
	if n == len(given) {
		start := time.Now().UTC().Truncate(time.Second)
		if l.startedAt != "now" {
			t, err := time.Parse(time.RFC3339, l.startedAt)
			if err != nil {
				return history.Deployment{}, usageError("--started-at %q: want RFC 3339 or now", l.startedAt)
			}
			start = t.UTC()
		}
		if id == "" {
			id = promsource.DeploymentID(l.service, l.environment, l.version, start.Truncate(time.Minute))
		}
		return history.Deployment{ID: id, Service: l.service, Environment: l.environment, Version: l.version,
			StartedAt: start, FilesChanged: -1, LinesAdded: -1, LinesDeleted: -1, Kind: history.KindDeploy}, nil
	}
	if id == "" {
		return history.Deployment{}, usageError("give --deployment ID (in the store), or --service, --environment, --version and --started-at")
	}
	if f, ok := store.(batch.DeploymentFinder); ok {
		dep, found, err := f.DeploymentByID(ctx, id)
		if err != nil {
			return history.Deployment{}, err
		}
		if found {
			return dep, nil
		}
	} else {
		deps, err := store.Deployments(ctx, history.Range{})
		if err != nil {
			return history.Deployment{}, err
		}
		for _, dep := range deps {
			if dep.ID == id {
				return dep, nil
			}
		}
	}
	return history.Deployment{}, usageError("deployment %q is not in the store: give --service, --environment, --version and --started-at", id)
}
