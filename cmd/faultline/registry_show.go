package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
)

func init() {
	var showJSON bool
	register(&command{
		name:    "registry show",
		usage:   "REF [--json]",
		summary: "show one model version: artifacts, schema, thresholds, metrics, lineage",
		help: `REF is NAME@VERSION, NAME@ALIAS, or a bare VERSION or ALIAS of the default
model (registry.model), e.g. 3, production or faultline@candidate.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&showJSON, "json", false, "print the version record as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError("want one model reference, got %d arguments", len(args))
			}
			r, ref, err := e.registryRef(ctx, args[0])
			if err != nil {
				return err
			}
			v, err := r.Resolve(ctx, ref)
			if err != nil {
				return err
			}
			as, err := r.Backend().Aliases(ctx, v.Name)
			if err != nil {
				return err
			}
			aliases := append([]string{}, aliasesByVersion(as)[v.Version]...)
			if showJSON {
				return e.writeJSON(struct {
					*registry.Version
					Aliases []string `json:"aliases"`
				}{v, aliases})
			}
			printVersion(e, v, aliases)
			return nil
		},
	})
}

// printVersion prints one version for 'registry show'.
func printVersion(e *env, v *registry.Version, aliases []string) {
	w := e.stdout
	fmt.Fprintf(w, "%s version %d   created %s by %s\n", v.Name, v.Version, v.CreatedAt.Format(time.RFC3339), orDashStr(v.CreatedBy))
	if len(aliases) > 0 {
		fmt.Fprintf(w, "aliases:         %s\n", strings.Join(aliases, ", "))
	}
	if v.Description != "" {
		fmt.Fprintf(w, "description:     %s\n", v.Description)
	}
	fmt.Fprintf(w, "feature schema:  %s (hash %s, %d features, settings %s)\n", v.FeatureSchema.Version, orDashStr(v.FeatureSchema.Hash), len(v.FeatureSchema.Names), orDashStr(v.FeatureSchema.ConfigHash))
	for _, h := range v.Horizons {
		a, _ := v.Artifact(bundle.ModelFileName(h))
		fmt.Fprintf(w, "horizon %3d min: threshold %.4g   %s sha256:%s (%d bytes)\n", h, v.Thresholds[h], a.Name, a.SHA256, a.Size)
	}
	l := v.Lineage
	if v.Imported() {
		from := orDashStr(l.ImportedFrom)
		fmt.Fprintf(w, "lineage:         imported from %s (bundle %s), not a pipeline run; code %s\n", from, orDashStr(l.Bundle), orDashStr(l.CodeVersion))
		if len(l.Claimed) > 0 {
			var c bytes.Buffer
			if json.Compact(&c, l.Claimed) != nil {
				c.Reset()
				c.Write(l.Claimed)
			}
			fmt.Fprintf(w, "                 the bundle claims (unverified): %s\n", c.String())
		}
	} else {
		fmt.Fprintf(w, "lineage:         pipeline run %s, source %s, dataset %s, labels %s, code %s\n", orDashStr(l.RunID), orDashStr(l.Source), orDashStr(l.DatasetHash), orDashStr(l.LabelHash), orDashStr(l.CodeVersion))
	}
	if _, ok := v.Verified(); !ok {
		fmt.Fprintln(w, "metrics unverified: the promotion gate has not computed this version's scores yet ('faultline registry promote' does)")
	}
	for _, m := range append([]registry.Metrics{v.Metrics}, v.Evaluations...) {
		if m.EvalSetHash == "" && len(m.Values) == 0 {
			continue
		}
		switch {
		case m.Origin == registry.OriginGate:
			fmt.Fprintf(w, "computed by the promotion gate on evaluation set %s at %s (verified):\n", m.EvalSetHash, m.At.Format(time.RFC3339))
		case m.Origin == registry.OriginBundle || (m.Origin == "" && v.Imported()):
			fmt.Fprintln(w, "claimed by the imported bundle (unverified, never judged on):")
		default:
			fmt.Fprintf(w, "from the pipeline run's evaluation on evaluation set %s (informative; the gate computes its own):\n", orDashStr(m.EvalSetHash))
		}
		keys := make([]string, 0, len(m.Values))
		for k := range m.Values {
			if !strings.Contains(k, ":") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-28s %.6g\n", k, m.Values[k])
		}
	}
}
