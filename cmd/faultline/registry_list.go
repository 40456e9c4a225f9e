package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/registry"
)

func init() {
	var (
		listName string
		listJSON bool
	)
	register(&command{
		name:    "registry list",
		usage:   "[--name NAME] [--json]",
		summary: "list registered model versions with their metrics and aliases",
		help: `Lists the versions of one model (default: registry.model of --config,
"faultline"), or of every model with --name all. The registry lives in
PostgreSQL with --db, else in HOME/registry.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&listName, "name", "", "model `NAME`, or all (default registry.model)")
			fs.BoolVar(&listJSON, "json", false, "print the versions as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			return registryList(ctx, e, listName, listJSON)
		},
	})
}

// listedVersion is a version with the aliases pointing at it.
type listedVersion struct {
	registry.Version
	Aliases []string `json:"aliases"`
}

func registryList(ctx context.Context, e *env, name string, asJSON bool) error {
	r, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	names := []string{name}
	if name == "" {
		names = []string{r.Config().Model}
	} else if name == "all" {
		if names, err = r.Backend().Models(ctx); err != nil {
			return err
		}
	}
	all := []listedVersion{}
	for _, n := range names {
		vs, err := r.Backend().Versions(ctx, n)
		if err != nil {
			return err
		}
		as, err := r.Backend().Aliases(ctx, n)
		if err != nil {
			return err
		}
		byV := aliasesByVersion(as)
		for _, v := range vs {
			all = append(all, listedVersion{v, append([]string{}, byV[v.Version]...)})
		}
	}
	if asJSON {
		return e.writeJSON(all)
	}
	if len(all) == 0 {
		fmt.Fprintf(e.stdout, "no versions of %s in %s; register one with 'faultline registry register --workdir DIR'\n", strings.Join(names, ", "), r.Backend().Describe())
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSION\tCREATED\tBY\tSOURCE\tRUN\tMETRICS\tEVAL SET\tRECALL\tPRECISION\tMTTD\tALIASES")
	for _, it := range all {
		m, origin := listedMetrics(&it.Version)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Version.Version, it.CreatedAt.Format(time.RFC3339),
			orDashStr(it.CreatedBy), orDashStr(it.Lineage.Source), orDashStr(it.Lineage.RunID), origin, orDashStr(m.EvalSetHash),
			fmtMetric(m, "policy.recall"), fmtMetric(m, "policy.precision"), fmtMetric(m, "policy.mttd_min"),
			strings.Join(it.Aliases, ","))
	}
	return tw.Flush()
}

// listedMetrics picks the metrics 'registry list' shows: the promotion
// gate's newest (verified), else the run's evaluation; an imported
// version's claims are not shown.
func listedMetrics(v *registry.Version) (registry.Metrics, string) {
	if m, ok := v.Verified(); ok {
		return m, "gate"
	}
	if v.Imported() {
		return registry.Metrics{}, "unverified"
	}
	if len(v.Metrics.Values) == 0 {
		return v.Metrics, "-"
	}
	return v.Metrics, "run eval"
}
