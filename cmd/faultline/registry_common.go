package main

// Helpers shared by the `registry …` commands (one file per command:
// registry_list.go, registry_show.go, …) and by run, evaluate and predict.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// openRegistry returns the model registry of the selected store (PostgreSQL
// tables with --db, else HOME/registry) with the settings of section
// "registry". The stores own its backend: closing it is not needed.
func (e *env) openRegistry(ctx context.Context) (*registry.Registry, error) {
	return e.stores.Registry(ctx, e.set.Registry)
}

// registryRef opens the registry (openRegistry) and parses ref: NAME@VERSION,
// NAME@ALIAS, or a bare VERSION or ALIAS of registry.model. A malformed ref
// is a usage error.
func (e *env) registryRef(ctx context.Context, ref string) (*registry.Registry, registry.Ref, error) {
	r, err := e.openRegistry(ctx)
	if err != nil {
		return nil, registry.Ref{}, err
	}
	pr, err := registry.ParseRef(ref, r.Config().Model)
	if err != nil {
		return nil, registry.Ref{}, usageError("%v", err)
	}
	return r, pr, nil
}

// featureSchema is this build's feature schema with the feature settings of
// section "features".
func (e *env) featureSchema() (bundle.Schema, error) {
	s, err := features.DescribeSchema(e.set.Features)
	return bundle.Schema(s), err
}

// whoAmI names the operator for the registry's records.
func whoAmI() string {
	if u := os.Getenv("FAULTLINE_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// registryProductionLoader gives the evaluation stage the registry's
// production model as a contender (see pipeline.ProductionLoader).
func (e *env) registryProductionLoader() evaluation.ProductionLoader {
	return func(ctx context.Context, in *evaluation.Inputs) (*evaluation.ModelSet, error) {
		r, err := e.openRegistry(ctx)
		if err != nil {
			return nil, err
		}
		return pipeline.ProductionLoader(r, "")(ctx, in)
	}
}

// parseModelVersion reads NAME VERSION or NAME@VERSION.
func parseModelVersion(args []string) (string, int, error) {
	var name, ver string
	switch len(args) {
	case 1:
		var ok bool
		name, ver, ok = strings.Cut(args[0], "@")
		if !ok {
			return "", 0, usageError("want NAME VERSION or NAME@VERSION")
		}
	case 2:
		name, ver = args[0], args[1]
	default:
		return "", 0, usageError("want NAME VERSION or NAME@VERSION")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(ver, "v"))
	if err != nil || n <= 0 {
		return "", 0, usageError("version %q: want a positive number", ver)
	}
	return name, n, nil
}

func fmtMetric(m registry.Metrics, key string) string {
	x, ok := m.Values[key]
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

func aliasesByVersion(as []registry.Alias) map[int][]string {
	out := map[int][]string{}
	for _, a := range as {
		out[a.Version] = append(out[a.Version], a.Alias)
	}
	return out
}

// printDecision prints the gate's decision: the evaluation set, every
// contender's policy precision and recall (Wilson 95% intervals) against
// each reference, the floors and the rules.
func printDecision(e *env, d *registry.Decision) {
	if d == nil {
		return
	}
	fmt.Fprintf(e.stdout, "gate: %s\n", d.Message)
	if ev := d.Evidence; ev != nil {
		set := ev.Set
		run := ""
		if set.RunID != "" {
			run = ", run " + set.RunID
		}
		fmt.Fprintf(e.stdout, "  evaluation set %s: %s split of %s%s: %d deploys, %d in the history store; %d labeled (%s: %d gold, %d weak), %d faulty\n",
			set.Hash, set.Split, set.Workdir, run, set.Deploys, set.Extracted, set.Labeled, set.Reference, set.FromGold, set.FromWeak, set.Faulty)
		for _, n := range ev.Notes {
			fmt.Fprintf(e.stdout, "  note: %s\n", n)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CONTENDER\tREFERENCE\tPRECISION [95% CI] (k/n)\tRECALL [95% CI] (k/n)\tMTTD")
		row := func(label string, s *registry.Scored) {
			for i, p := range s.Policy {
				if i > 0 {
					label = ""
				}
				mttd := "-"
				if x := float64(p.MTTD); !math.IsNaN(x) && !math.IsInf(x, 0) {
					mttd = fmt.Sprintf("%.1f min", x)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", label, p.Reference, p.Precision.Decimal(3), p.Recall.Decimal(3), mttd)
			}
		}
		row(ev.Candidate.Name+" (candidate)", &ev.Candidate)
		if ev.Current != nil {
			row(ev.Current.Name+" (current)", ev.Current)
		}
		row(ev.Baseline.Name, &ev.Baseline)
		tw.Flush()
	}
	if len(d.Floors) > 0 {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FLOOR\tMIN\tCANDIDATE\tRESULT")
		for _, f := range d.Floors {
			res := "pass"
			if !f.Passed {
				res = "FAIL"
			}
			fmt.Fprintf(tw, "  %s\t%.4g\t%s\t%s\n", f.Floor, f.Min, f.Candidate.Decimal(3), res)
		}
		tw.Flush()
	}
	if len(d.Rules) == 0 {
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tBETTER\tTOLERANCE\tCANDIDATE\tCURRENT\tRESULT")
	for _, r := range d.Rules {
		res := "pass"
		if !r.Passed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%g\t%s\t%s\t%s\n", r.Metric, r.Better, r.Tolerance, fmtPtr(r.Candidate), fmtPtr(r.Current), res)
	}
	tw.Flush()
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func orDashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
