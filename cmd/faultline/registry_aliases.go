package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/registry"
)

func init() {
	var (
		aliasesHistory, aliasesJSON bool
		aliasesAlias                string
	)
	register(&command{
		name:    "registry aliases",
		usage:   "[NAME] [--history] [--alias ALIAS] [--json]",
		summary: "show where each alias points, or the full history of alias moves",
		help: `Without --history: each alias of model NAME (default registry.model) and its
version. With --history: every move ever made (append-only): when, from
which version to which, who, why, forced or not, and the gate's verdict.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&aliasesHistory, "history", false, "print the history of moves")
			fs.StringVar(&aliasesAlias, "alias", "", "only this alias (with --history)")
			fs.BoolVar(&aliasesJSON, "json", false, "print JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 1 {
				return usageError("want at most one model name")
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			name := r.Config().Model
			if len(args) == 1 {
				name = args[0]
			}
			if aliasesHistory {
				return printAliasHistory(ctx, e, r, name, aliasesAlias, aliasesJSON)
			}
			return printAliases(ctx, e, r, name, aliasesJSON)
		},
	})
}

func printAliases(ctx context.Context, e *env, r *registry.Registry, name string, asJSON bool) error {
	as, err := r.Backend().Aliases(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		if as == nil {
			as = []registry.Alias{}
		}
		return e.writeJSON(as)
	}
	if len(as) == 0 {
		fmt.Fprintf(e.stdout, "model %s has no aliases; see 'faultline registry promote'\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tVERSION\tSINCE")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Alias, a.Version, a.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func printAliasHistory(ctx context.Context, e *env, r *registry.Registry, name, alias string, asJSON bool) error {
	hist, err := r.Backend().History(ctx, name, alias)
	if err != nil {
		return err
	}
	if asJSON {
		if hist == nil {
			hist = []registry.Move{}
		}
		return e.writeJSON(hist)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tALIAS\t#\tFROM\tTO\tBY\tGATE\tREASON")
	for _, m := range hist {
		from := "-"
		if m.From != 0 {
			from = strconv.Itoa(m.From)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", m.At.Format(time.RFC3339), m.Alias, m.Seq, from, m.To, orDashStr(m.By), gateVerdict(m), orDashStr(m.Reason))
	}
	return tw.Flush()
}

// gateVerdict says in a few words what the gate made of a move.
func gateVerdict(m registry.Move) string {
	d := m.Decision
	switch {
	case d == nil:
		return "-"
	case m.Forced:
		return "FORCED (refused)"
	case d.NotGated:
		return "not gated"
	case d.Current == 0:
		return "passed (first)"
	default:
		return fmt.Sprintf("passed vs %d", d.Current)
	}
}
