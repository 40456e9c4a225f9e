package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// simulateHelp is the help of 'faultline simulate'; regimesHelp appends the regimes.
const simulateHelp = `Generates a reproducible deploy history for N services in each environment
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
docs/history-import.md), for 'faultline import --from DIR', and the ground
truth as DIR/truth/truth.csv: a subfolder, which import does not read.
With --openmetrics FILE the same history's per-minute series (metrics and
error signatures) are also written in the OpenMetrics text format, for
'promtool tsdb create-blocks-from openmetrics' and 'faultline import
prometheus' (metric names in docs/prometheus.md; KPI values are not
written: take them from the import files). Keep FILE out of DIR: import
refuses files it does not know.

Settings: --regime NAME first, then section "simulate" of --config laid
over it, then the flags. Keys and defaults:

  services: 40                 environments: [prod-us1, prod-eu1]
  days: 14                     start: 2026-01-05T00:00:00Z (a Monday)
  seed: 1                      deploys_per_day: 4 (per service and environment
  fault_rate: 0.05               on weekdays; a quarter on weekends)
  annotation_rate: 0.03        annotation_noise: 0.05
  kind_omitted_rate: 0.3       outages_per_day: 0.3 (per environment)
  signatures: true             workers: 2 (output identical for any value)

Knobs that vary the fleet (at their defaults the history is unchanged):

  deploys_per_day_max: 0       above deploys_per_day, each stream draws its
                                 own cadence in [deploys_per_day, this]
  reactions: mixed             operators' culture: mixed, rollback-heavy,
                                 roll-forward or silent
  low_traffic_share: 0.15      share of low-traffic services
  noise_incidents_per_day: 0.05  unrelated incidents per stream and day
  noise_incident_link_rate: 0  share of those linked to the latest deploy
  outage_incidents: 2          most services given an incident per outage
  benign_signature_rate: 0.1   healthy deploys with a harmless new fingerprint
  severity_min: 0              with severity_max, every fault's severity is
  severity_max: 0                log-uniform in [min, max] (e.g. 1.2 and 6)
  no_canary_rate: 0            deploys switching all traffic at once

The ground truth of each deployment (truth/truth.csv, or the store's truth
table) gives faulty, shape, onset_minute, severity and confounders, a list of:
blip, outage, low_traffic, seasonal, bursty, overlap (replaced within 60
min), rollback, hotfix, rolled_back, benign_signature, no_canary,
outage_incident, noise_incident, misattributed_incident. The model is
described in 'go doc ./internal/simulate'; 'faultline quality' scores the
production policy on every regime (docs/quality.md).

Regimes (--regime NAME; the knobs each sets):
`

// regimesHelp lists the simulator's regimes with their knobs.
func regimesHelp() string {
	var b strings.Builder
	for _, r := range simulate.Regimes {
		fmt.Fprintf(&b, "\n  %s\n      %s\n", r.Name, strings.Join(r.Knobs(), ", "))
	}
	return b.String()
}

func init() {
	var (
		services, days int
		seed           int64
		deploysPerDay  float64
		faultRate      float64
		start, out     string
		regime         string
		openMetrics    string
		asJSON         bool
	)
	register(&command{
		name:    "simulate",
		usage:   "[--regime NAME] [--services N] [--days D] [--seed S] [--deploys-per-day F] [--fault-rate P] [--start T] [--out DIR] [--openmetrics FILE] [--json]",
		summary: "simulate a realistic fleet's deploy history (with ground truth) for demos and tests",
		help:    simulateHelp + regimesHelp(),
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&regime, "regime", "", "start from the knobs of regime `NAME` (listed above)")
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
			if regime != "" {
				r, err := simulate.LookupRegime(regime)
				if err != nil {
					return usageError("--regime: %v", err)
				}
				r.Apply(&cfg)
			}
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
			res := simulateResult{Seed: cfg.Seed, Days: cfg.Days, Environments: cfg.Environments, Regime: regime}
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
				sum, isum, err := simulate.Into(ctx, cfg, st, e.progress())
				if err != nil {
					return err
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
	Regime       string                 `json:"regime,omitempty"`
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
		dest = r.Out + " (import files; ground truth in " + filepath.Join(r.Out, simulate.TruthFile) + ")"
	}
	if r.OpenMetrics != "" {
		dest += " and " + r.OpenMetrics + " (OpenMetrics)"
	}
	regime := ""
	if r.Regime != "" {
		regime = ", regime " + r.Regime
	}
	fmt.Fprintf(tw, "simulated\t%d services × %d environments × %d days (seed %d%s) into %s\n", r.Services, len(r.Environments), r.Days, r.Seed, regime, dest)
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
	if len(r.Confounders) > 0 {
		names := make([]string, 0, len(r.Confounders))
		for c := range r.Confounders {
			names = append(names, c)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, c := range names {
			parts[i] = fmt.Sprintf("%s %d", c, r.Confounders[c])
		}
		fmt.Fprintf(tw, "deploys per confounder\t%s\n", strings.Join(parts, ", "))
	}
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
