package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
)

func init() {
	var (
		services, days int
		seed           int64
		deploysPerDay  float64
		faultRate      float64
		start, out     string
		openMetrics    string
		asJSON         bool
	)
	register(&command{
		name:    "simulate",
		usage:   "[--services N] [--days D] [--seed S] [--deploys-per-day F] [--fault-rate P] [--start T] [--out DIR] [--openmetrics FILE] [--json]",
		summary: "simulate a realistic fleet's deploy history (with ground truth) for demos and tests",
		help: `Generates a reproducible deploy history for N services in each environment
over D days: deployments with per-version canary rollouts, per-minute
requests, errors and latency per version, error signatures, incidents and a
small sample of human annotations. The fleet mixes steady, seasonal,
low-traffic and bursty services, overdispersed error noise, restart blips,
fleet-wide dependency outages, faulty deploys of five shapes (step, ramp,
delayed, new_signature, latency) and operators' reactions (rollbacks,
hotfixes, follow-up deploys). The same seed gives the same history.

Without --out the history goes into the history store (--db, or the
embedded store in --home), which must hold no deployments yet, in one
all-or-nothing import; the ground truth of every deployment is stored
beside it (never read by the pipeline as input). With --out DIR it is
written as import files (services.csv, deployments.csv, metrics.csv,
error_signatures.csv, incidents.csv, annotations.csv; see
docs/history-import.md) plus truth.csv, for 'faultline import --from DIR'.
With --openmetrics FILE the same history's per-minute series (metrics and
error signatures) are also written in the OpenMetrics text format, for
'promtool tsdb create-blocks-from openmetrics' and 'faultline import
prometheus' (metric names in docs/prometheus.md).

Settings: section "simulate" of --config; flags override it. Keys and
defaults:

  services: 40                 environments: [prod-us1, prod-eu1]
  days: 14                     start: 2026-01-05T00:00:00Z (a Monday)
  seed: 1                      deploys_per_day: 4 (per service and environment
  fault_rate: 0.05               on weekdays; a quarter on weekends)
  annotation_rate: 0.03        annotation_noise: 0.05
  kind_omitted_rate: 0.3       outages_per_day: 0.3 (per environment)
  signatures: true             workers: 2 (output identical for any value)

The model is described in 'go doc ./internal/simulate'.`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&services, "services", 0, "number of services `N` (default 40)")
			fs.IntVar(&days, "days", 0, "days `D` of history (default 14)")
			fs.Int64Var(&seed, "seed", 0, "random seed `S` (default 1)")
			fs.Float64Var(&deploysPerDay, "deploys-per-day", 0, "planned deploys per service and environment per weekday `F` (default 4)")
			fs.Float64Var(&faultRate, "fault-rate", -1, "share `P` of planned deploys that are faulty (default 0.05)")
			fs.StringVar(&start, "start", "", "first minute `T` of history, RFC 3339 (default 2026-01-05T00:00:00Z)")
			fs.StringVar(&out, "out", "", "write import files to `DIR` instead of the store")
			fs.StringVar(&openMetrics, "openmetrics", "", "also write the per-minute series to `FILE` in OpenMetrics text format")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			cfg := simulate.DefaultConfig()
			if err := e.cfg.Section("simulate", &cfg); err != nil {
				return usageError("%v", err)
			}
			if services != 0 {
				cfg.Services = services
			}
			if days != 0 {
				cfg.Days = days
			}
			if seed != 0 {
				cfg.Seed = seed
			}
			if deploysPerDay != 0 {
				cfg.DeploysPerDay = deploysPerDay
			}
			if faultRate >= 0 {
				cfg.FaultRate = faultRate
			}
			if start != "" {
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usageError("--start %q: want RFC 3339, e.g. 2026-01-05T00:00:00Z", start)
				}
				cfg.Start = t.UTC()
			}
			if err := cfg.Validate(); err != nil {
				return usageError("%v", err)
			}
			began := time.Now()
			res := simulateResult{Seed: cfg.Seed, Days: cfg.Days, Environments: cfg.Environments}
			if out != "" {
				sum, err := simulate.WriteFilesProgress(ctx, cfg, out, e.progress())
				if err != nil {
					return err
				}
				res.Summary, res.Out = sum, out
			} else {
				st, err := e.openStore(ctx)
				if err != nil {
					return err
				}
				existing, err := st.Deployments(ctx, history.Range{})
				if err != nil {
					return err
				}
				if len(existing) > 0 {
					return fmt.Errorf("%s already holds %d deployments: simulate into an empty store (a fresh --home or database), or use --out DIR", st.Describe(), len(existing))
				}
				tx, err := st.BeginImport(ctx)
				if err != nil {
					return err
				}
				sum, err := simulate.Run(ctx, cfg, tx, st, e.progress())
				if err != nil {
					tx.Rollback(context.Background())
					return err
				}
				e.log.Debug("simulated; committing", "store", st.Describe(), "elapsed", time.Since(began))
				isum, err := tx.Commit(ctx)
				if err != nil {
					tx.Rollback(context.Background())
					return fmt.Errorf("commit simulated history: %w", err)
				}
				res.Summary, res.Store, res.Import = sum, st.Describe(), &isum
			}
			if openMetrics != "" {
				if _, err := simulate.WriteOpenMetrics(ctx, cfg, openMetrics, e.progress()); err != nil {
					return err
				}
				res.OpenMetrics = openMetrics
			}
			res.Seconds = time.Since(began).Seconds()
			if asJSON {
				return e.writeJSON(res)
			}
			return printSimulateSummary(e, res)
		},
	})
}

// simulateResult is the --json output of `faultline simulate`.
type simulateResult struct {
	simulate.Summary
	Seed         int64                  `json:"seed"`
	Days         int                    `json:"days"`
	Environments []string               `json:"environments"`
	Store        string                 `json:"store,omitempty"`
	Out          string                 `json:"out,omitempty"`
	OpenMetrics  string                 `json:"openmetrics,omitempty"`
	Import       *history.ImportSummary `json:"import,omitempty"`
	Seconds      float64                `json:"seconds"`
}

func printSimulateSummary(e *env, r simulateResult) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	dest := r.Store
	if r.Out != "" {
		dest = r.Out + " (import files + truth.csv)"
	}
	if r.OpenMetrics != "" {
		dest += " and " + r.OpenMetrics + " (OpenMetrics)"
	}
	fmt.Fprintf(tw, "simulated\t%d services × %d environments × %d days (seed %d) into %s\n", r.Services, len(r.Environments), r.Days, r.Seed, dest)
	fmt.Fprintf(tw, "deployments\t%d (%d rollbacks, %d without kind)\n", r.Deployments, r.Rollbacks, r.KindOmitted)
	shapes := make([]string, 0, len(r.FaultyByShape))
	for s := range r.FaultyByShape {
		shapes = append(shapes, s)
	}
	sort.Strings(shapes)
	by := ""
	for i, s := range shapes {
		if i > 0 {
			by += ", "
		}
		by += fmt.Sprintf("%s %d", s, r.FaultyByShape[s])
	}
	pct := 0.0
	if r.Deployments > 0 {
		pct = 100 * float64(r.Faulty) / float64(r.Deployments)
	}
	fmt.Fprintf(tw, "faulty\t%d (%.1f%%): %s\n", r.Faulty, pct, by)
	fmt.Fprintf(tw, "metric rows\t%d\n", r.MetricRows)
	fmt.Fprintf(tw, "error signature rows\t%d\n", r.SignatureRows)
	fmt.Fprintf(tw, "incidents\t%d\n", r.Incidents)
	fmt.Fprintf(tw, "annotations\t%d\n", r.Annotations)
	fmt.Fprintf(tw, "outages\t%d\n", r.Outages)
	if r.Import != nil {
		fmt.Fprintf(tw, "rollbacks inferred\t%d\n", r.Import.RollbacksInferred)
	}
	rate := 0.0
	if r.Seconds > 0 {
		rate = float64(r.MetricRows) / r.Seconds
	}
	fmt.Fprintf(tw, "time\t%.1fs (%.0f metric rows/s)\n", r.Seconds, rate)
	return tw.Flush()
}
