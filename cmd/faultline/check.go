package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/features"
)

// Sources of a verdict, the "source" field of check's and predict's JSON.
const (
	sourceModel      = "model"
	sourceStatistics = batch.StatisticalChecks
)

func init() {
	var (
		deployment, model, workdir string
		workers                    int
		asJSON                     bool
		live                       liveCheckFlags
	)
	register(&command{
		name:    "check",
		usage:   "--deployment ID [--model REF] [--workers N] [--json] [--prometheus URL --mapping FILE [--wait] ...]",
		summary: "judge one deployment for a CD pipeline: exit 0 healthy, 1 faulty, 3 inconclusive, 5 error",
		help: `Computes the deployment's features from the history store as of now, at
every horizon that already has data, scores them with model REF (default:
production; a bundle file .tar.gz also works) and applies the sequential
policy. Only this deployment's windows are computed: its stream neighbours
and its environment's other streams (for the fleet features) are read over
the minutes those windows need, and the features equal the offline
extraction's for the same deployment. Prints the verdict, the probability at
each horizon and the features that pushed the score most. A verdict is provisional ("so far") until the
largest horizon has data or the deployment is flagged. A look whose window
fell in a fleet event (at least the model's fleet_event_share of the
environment's other services elevated: train.fleet_event_share) does not
flag, whatever its probability; its CANNOT JUDGE column says so, and a
verdict whose latest look was one is inconclusive.

With no production model in the registry (nothing promoted yet, or every
candidate refused by the promotion gate; or one trained on another feature
schema, which this build cannot score: a warning says so) and --model left
at production, the deployment is judged by the statistical checks instead,
computed with the "features" settings and looked at over the horizons that
have data: the
unanimous ensemble of the impact, temporal-correlation and persistence
checks for a canary, and for a change without one (a big-bang deploy,
aggregate metrics) the before/after checks of its error rate, latency,
throughput and declared KPIs (docs/detector.md). Faulty at the first horizon
that flags it; inconclusive when neither could judge. The output says so
("source": "statistical-checks" with --json).

With --prometheus URL (or --mapping FILE naming server.url) the deploy is
judged live from a Prometheus-compatible server: its series, and those of
its environment's other services, are read through the mapping
(docs/prometheus.md) up to the last complete minute, while the deployments
around it come from the history store. The deployment is the store's
(--deployment ID) or given by --service, --environment, --version and
--started-at (its id is then --deployment, or one made of those). --wait
looks again at each horizon of the model (10, 20 and 60 minutes after the
start; the "features" horizons for the statistical checks), printing each
look, until the verdict is final. --at T judges as of T instead of now (a
replay).

Exit status, so that a deploy pipeline can halt a rollout:
  0  healthy (so far)
  1  faulty
  3  inconclusive: too little traffic or data to judge, or a fleet event
  5  error: nothing was judged (unknown model, tampered bundle, unreadable
     store, Prometheus unreachable or refusing a query; the message is on
     standard error)
  2  usage error (unknown deployment, bad flags)`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&deployment, "deployment", "", "deployment `ID` (required, except with --prometheus and --service, --environment, --version, --started-at)")
			fs.StringVar(&model, "model", "production", "model `REF` or bundle file")
			fs.StringVar(&workdir, "workdir", "", "`DIR` for a temporary spill file, if one is needed (default HOME/work)")
			fs.IntVar(&workers, "workers", 0, "streams read in parallel (default: number of CPUs)")
			fs.BoolVar(&asJSON, "json", false, "print the verdict, scores and reasons as JSON")
			live.addFlags(fs)
		},
		run: func(ctx context.Context, e *env, args []string) (err error) {
			defer func() { err = checkExit(err) }()
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			if live.enabled() {
				return runLiveCheck(ctx, e, &live, deployment, model, workdir, workers, asJSON)
			}
			if live.given() {
				return usageError("--service, --environment, --version, --started-at, --at and --wait need --prometheus or --mapping")
			}
			if deployment == "" {
				return usageError("--deployment is required")
			}
			d, fallback, store, err := e.detectorAndStore(ctx, model)
			if err != nil {
				return err
			}
			opts := batch.Options{Scratch: e.workdir(workdir), Workers: workers}
			var row *batch.Row
			if fallback {
				row, err = batch.CheckStatistical(ctx, store, e.set.Features, deployment, opts)
			} else {
				row, err = batch.Check(ctx, store, d, deployment, opts)
			}
			if errors.Is(err, batch.ErrNoDeployment) {
				return usageError("%v", err)
			}
			if err != nil {
				return err
			}
			source := sourceModel
			if fallback {
				source = sourceStatistics
			}
			if asJSON {
				if err := e.writeJSON(struct {
					DeploymentID string `json:"deployment_id"`
					Service      string `json:"service"`
					Environment  string `json:"environment"`
					Source       string `json:"source"`
					*detector.Result
				}{row.DeploymentID, row.Service, row.Environment, source, row.Result}); err != nil {
					return err
				}
			} else if fallback {
				printStatisticalCheck(e, row)
			} else {
				printCheck(e, d, row)
			}
			return verdictExit(row.Result)
		},
	})
}

// verdictExit maps a verdict to check's exit status.
func verdictExit(res *detector.Result) error {
	switch res.Verdict {
	case detector.Faulty:
		return &exitError{code: exitFailure}
	case detector.Inconclusive:
		return &exitError{code: exitInconclusive}
	}
	return nil
}

// checkExit gives check's errors their own exit status, apart from the
// faulty verdict's 1: usage errors keep 2, verdicts their codes.
func checkExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) && (ee.err == nil || ee.code != exitFailure) {
		return err
	}
	return &exitError{code: exitCheckError, err: err}
}

// verdictLine prints the first line of a verdict.
func verdictLine(e *env, row *batch.Row, by string) {
	res := row.Result
	so := ""
	if !res.Final {
		so = " so far"
	}
	fmt.Fprintf(e.stdout, "%s (%s/%s, started %s): %s%s", row.DeploymentID, row.Service, row.Environment, row.StartedAt.Format("2006-01-02T15:04Z07:00"), res.Verdict, so)
	if res.DetectedAt > 0 {
		fmt.Fprintf(e.stdout, " at %d min", res.DetectedAt)
	}
	fmt.Fprintf(e.stdout, "   [%s]\n", by)
}

// printCheck prints a model's verdict, the probability at each horizon and
// the reasons.
func printCheck(e *env, d *detector.Detector, row *batch.Row) {
	res := row.Result
	verdictLine(e, row, fmt.Sprintf("model %s@%d", res.Model, res.Version))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HORIZON\tP(FAULTY)\tTHRESHOLD\tFLAGGED\tNOTE")
	for _, h := range d.Horizons() {
		p := row.P[h]
		if math.IsNaN(p) {
			fmt.Fprintf(tw, "%d min\t-\t%.3f\t\t(no data yet)\n", h, d.Threshold(h))
			continue
		}
		flag, note := "", ""
		if res.Verdict == detector.Faulty && h > res.DetectedAt {
			note = "(not looked at: flagged earlier)"
		}
		for _, s := range res.Scores {
			if s.Horizon == h {
				if s.Flagged {
					flag = "yes"
				}
				note = lookNote(s)
			}
		}
		fmt.Fprintf(tw, "%d min\t%.3f\t%.3f\t%s\t%s\n", h, p, d.Threshold(h), flag, note)
	}
	tw.Flush()
	for _, s := range res.Scores {
		if s.FleetEvent {
			fmt.Fprintf(e.stdout, "fleet event: at least %.0f%% of the environment's other services were elevated in one minute of a window marked so; "+
				"there the deploy's errors cannot be told from the environment's, and that look does not flag (train.fleet_event_share)\n",
				100*d.FleetEventShare())
			break
		}
	}
	if len(res.Reasons) > 0 {
		fmt.Fprintf(e.stdout, "reasons (at %d min; contribution to the log-odds):\n", res.DecidingHorizon)
		for _, r := range res.Reasons {
			fmt.Fprintf(e.stdout, "  %-32s value %-12.4g %+.3f\n", r.Feature, r.Value, r.Contribution)
		}
	}
}

// lookNote says why a model's look could not judge, or on what a flagged
// one judged: a fleet event keeps a look from flagging; thin data (the
// canary checks had too little traffic and the before/after checks did
// not judge) leaves an unflagged look unable to clear the deploy, while a
// look that flagged all the same did so on the model's other evidence.
func lookNote(s detector.HorizonScore) string {
	switch {
	case s.FleetEvent:
		return "fleet event: cannot judge"
	case s.Inconclusive && s.Flagged:
		return "checks had thin data; flagged on other evidence"
	case s.Inconclusive:
		return "thin data: cannot judge"
	}
	return ""
}

// printStatisticalCheck prints the statistical checks' verdict: the
// ensemble's vote at each horizon with data and the checks at the
// deciding horizon.
func printStatisticalCheck(e *env, row *batch.Row) {
	res := row.Result
	verdictLine(e, row, "no production model: statistical checks")
	fmt.Fprintln(e.stdout, "no model is in production, so the statistical checks judged: faulty when the impact, temporal and persistence checks all pass (a canary) or a before/after check flags the change (no canary)")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HORIZON\tFLAGGED\tCANNOT JUDGE")
	for _, h := range horizonsSorted(e.set.Features.Horizons) {
		var s *detector.HorizonScore
		for i := range res.Scores {
			if res.Scores[i].Horizon == h {
				s = &res.Scores[i]
			}
		}
		switch {
		case s == nil && math.IsNaN(row.P[h]):
			fmt.Fprintf(tw, "%d min\t-\t(no data yet)\n", h)
		case s == nil:
			fmt.Fprintf(tw, "%d min\t(not looked at: flagged earlier)\t\n", h)
		default:
			flag, thin := "no", ""
			if s.Flagged {
				flag = "yes"
			}
			if s.Inconclusive {
				thin = "yes"
			}
			fmt.Fprintf(tw, "%d min\t%s\t%s\n", h, flag, thin)
		}
	}
	tw.Flush()
	if len(res.Reasons) > 0 {
		fmt.Fprintf(e.stdout, "checks (at %d min):\n", res.DecidingHorizon)
		for _, r := range res.Reasons {
			verdict := ""
			switch {
			case r.Contribution > 0:
				verdict = "pass"
			case r.Contribution < 0:
				verdict = "fail"
			case math.IsNaN(r.Value):
				verdict = "no data"
			}
			fmt.Fprintf(e.stdout, "  %-32s value %-12.4g %s\n", r.Feature, r.Value, verdict)
		}
	}
	if why := thinHistory(res, &e.set.Features.BeforeAfter); why != "" && res.Verdict == detector.Inconclusive {
		fmt.Fprintf(e.stdout, "the before/after checks could not judge this change: %s; the service's history before it is too short for them (features.before_after)\n", why)
	}
}

// thinHistory says what the before/after checks lacked when the statistical
// fallback's reasons name their history (ba_pseudo_points, ba_reference_days,
// which it gives when neither the canary ensemble nor they could judge):
// fewer replayed points than min_pseudo_points, or fewer seasonal reference
// days than reference_days. "" when neither fell short.
func thinHistory(res *detector.Result, bc *features.BeforeAfterConfig) string {
	var short []string
	for _, r := range res.Reasons {
		switch r.Feature {
		case features.Schema[features.BAPseudoPoints].Name:
			if !(r.Value >= float64(bc.MinPseudoPoints)) {
				short = append(short, fmt.Sprintf("%s pseudo-change points replayed, %d needed (min_pseudo_points)", countOrNone(r.Value), bc.MinPseudoPoints))
			}
		case features.Schema[features.BAReferenceDays].Name:
			if !(r.Value >= float64(bc.ReferenceDays)) {
				short = append(short, fmt.Sprintf("%s of %d seasonal reference days (reference_days)", countOrNone(r.Value), bc.ReferenceDays))
			}
		}
	}
	return strings.Join(short, "; ")
}

// countOrNone formats a count feature, NaN as "no".
func countOrNone(v float64) string {
	if math.IsNaN(v) {
		return "no"
	}
	return strconv.Itoa(int(v))
}
