package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/bundle"
	"github.com/faultline-dev/faultline/registry/pgregistry"
)

// openRegistry opens the model registry of the selected store: PostgreSQL
// tables with --db, else HOME/registry. Settings: section "registry".
func (e *env) openRegistry(ctx context.Context) (*registry.Registry, error) {
	cfg := registry.DefaultConfig()
	if err := e.cfg.Section("registry", &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var b registry.Backend
	if e.g.db != "" {
		db, err := pgregistry.Open(ctx, e.g.db)
		if err != nil {
			return nil, err
		}
		b = db
	} else {
		d, err := registry.OpenDir(filepath.Join(e.g.home, "registry"))
		if err != nil {
			return nil, err
		}
		b = d
	}
	return registry.New(b, cfg), nil
}

// featureSchema is this build's feature schema with the feature settings of
// section "features".
func (e *env) featureSchema() (bundle.Schema, error) {
	cfg := features.DefaultConfig()
	if err := e.cfg.Section("features", &cfg); err != nil {
		return bundle.Schema{}, err
	}
	if err := cfg.Validate(); err != nil {
		return bundle.Schema{}, fmt.Errorf("config: %w", err)
	}
	return detector.SchemaWithConfig(cfg)
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
		defer r.Close()
		return pipeline.ProductionLoader(r, "")(ctx, in)
	}
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
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			names := []string{listName}
			if listName == "" {
				names = []string{r.Config().Model}
			} else if listName == "all" {
				if names, err = r.Backend().Models(ctx); err != nil {
					return err
				}
			}
			type item struct {
				registry.Version
				Aliases []string `json:"aliases"`
			}
			all := []item{}
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
					all = append(all, item{v, append([]string{}, byV[v.Version]...)})
				}
			}
			if listJSON {
				return e.writeJSON(all)
			}
			if len(all) == 0 {
				fmt.Fprintf(e.stdout, "no versions of %s in %s; register one with 'faultline registry register --workdir DIR'\n", strings.Join(names, ", "), r.Backend().Describe())
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tVERSION\tCREATED\tBY\tSOURCE\tRUN\tEVAL SET\tRECALL\tPRECISION\tMTTD\tALIASES")
			for _, it := range all {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Version.Version, it.CreatedAt.Format(time.RFC3339),
					orDashStr(it.CreatedBy), orDashStr(it.Lineage.Source), orDashStr(it.Lineage.RunID), orDashStr(it.Metrics.EvalSetHash),
					fmtMetric(it.Metrics, "policy.recall"), fmtMetric(it.Metrics, "policy.precision"), fmtMetric(it.Metrics, "policy.mttd_min"),
					strings.Join(it.Aliases, ","))
			}
			return tw.Flush()
		},
	})

	var showJSON bool
	showFlags := func(fs *flag.FlagSet) {
		fs.BoolVar(&showJSON, "json", keepBool(fs, showJSON), "print the version record as JSON")
	}
	register(&command{
		name:    "registry show",
		usage:   "REF [--json]",
		summary: "show one model version: artifacts, schema, thresholds, metrics, lineage",
		help: `REF is NAME@VERSION, NAME@ALIAS, or a bare VERSION or ALIAS of the default
model (registry.model), e.g. 3, production or faultline@candidate.`,
		flags: showFlags,
		run: func(ctx context.Context, e *env, args []string) error {
			args, err := interspersed(args, showFlags)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageError("want one model reference, got %d arguments", len(args))
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			ref, err := registry.ParseRef(args[0], r.Config().Model)
			if err != nil {
				return usageError("%v", err)
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
			fmt.Fprintf(w, "lineage:         run %s, source %s, dataset %s, labels %s, code %s\n", orDashStr(l.RunID), orDashStr(l.Source), orDashStr(l.DatasetHash), orDashStr(l.LabelHash), orDashStr(l.CodeVersion))
			for i, m := range append([]registry.Metrics{v.Metrics}, v.Evaluations...) {
				if m.EvalSetHash == "" && len(m.Values) == 0 {
					continue
				}
				label := "metrics"
				if i > 0 {
					label = "re-evaluated"
				}
				fmt.Fprintf(w, "%s on evaluation set %s:\n", label, orDashStr(m.EvalSetHash))
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
			return nil
		},
	})

	var (
		promAlias, promReason, promBy string
		promForce, promJSON           bool
	)
	promFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&promAlias, "alias", keepStr(fs, promAlias), "alias `NAME` to move (e.g. candidate, production); required")
		fs.BoolVar(&promForce, "force", keepBool(fs, promForce), "move the alias even when the gate refuses (needs --reason)")
		fs.StringVar(&promReason, "reason", keepStr(fs, promReason), "why: recorded in the alias history; required with --force")
		fs.StringVar(&promBy, "by", keepStr(fs, promBy), "who promotes (default $FAULTLINE_USER or the login name)")
		fs.BoolVar(&promJSON, "json", keepBool(fs, promJSON), "print the recorded move (with the gate's decision) as JSON")
	}
	register(&command{
		name:    "registry promote",
		usage:   "NAME VERSION --alias ALIAS [--force --reason TEXT] [--json]",
		summary: "move an alias (e.g. production) to a version, through the promotion gate",
		help: `Points ALIAS of model NAME at VERSION (NAME@VERSION is accepted as one
argument) only when the version's metrics are at least as good as the current
holder's on the same evaluation set, under the rules of registry.gate in
--config (default: policy.recall may drop by at most 0.01, policy.precision
by at most 0.02, policy.mttd_min may not rise). When the two versions were
evaluated on different sets the promotion is refused: evaluate both on one
set (a pipeline run evaluates the production model beside its candidate) or
override. --force --reason "…" moves the alias despite a refusal. The
decision, the comparison, who and why are appended to the alias history
('faultline registry aliases --history'). The first promotion of an alias
always passes.

Exit status 1 when the gate refuses.`,
		flags: promFlags,
		run: func(ctx context.Context, e *env, args []string) error {
			args, err := interspersed(args, promFlags)
			if err != nil {
				return err
			}
			if promAlias == "" {
				return usageError("--alias is required")
			}
			if promForce && strings.TrimSpace(promReason) == "" {
				return usageError("--force needs --reason")
			}
			var name, ver string
			switch len(args) {
			case 1:
				var ok bool
				name, ver, ok = strings.Cut(args[0], "@")
				if !ok {
					return usageError("want NAME VERSION or NAME@VERSION")
				}
			case 2:
				name, ver = args[0], args[1]
			default:
				return usageError("want NAME VERSION or NAME@VERSION")
			}
			n, err := strconv.Atoi(strings.TrimPrefix(ver, "v"))
			if err != nil || n <= 0 {
				return usageError("version %q: want a positive number", ver)
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			by := promBy
			if by == "" {
				by = whoAmI()
			}
			mv, err := r.Promote(ctx, name, n, promAlias, registry.PromoteOptions{By: by, Reason: promReason, Force: promForce})
			var ge *registry.GateError
			if errors.As(err, &ge) {
				if promJSON {
					_ = e.writeJSON(struct {
						Promoted bool              `json:"promoted"`
						Decision registry.Decision `json:"decision"`
					}{false, ge.Decision})
				} else {
					printDecision(e, &ge.Decision)
				}
				return &exitError{code: exitFailure, err: err}
			}
			if err != nil {
				return err
			}
			if promJSON {
				return e.writeJSON(mv)
			}
			from := "nothing"
			if mv.From != 0 {
				from = fmt.Sprintf("version %d", mv.From)
			}
			verb := "promoted"
			if mv.Forced {
				verb = "FORCED"
			}
			fmt.Fprintf(e.stdout, "%s: %s@%s now points at version %d (was %s), move #%d\n", verb, name, promAlias, mv.To, from, mv.Seq)
			printDecision(e, mv.Decision)
			return nil
		},
	})

	var (
		aliasesHistory, aliasesJSON bool
		aliasesAlias                string
	)
	aliasesFlags := func(fs *flag.FlagSet) {
		fs.BoolVar(&aliasesHistory, "history", keepBool(fs, aliasesHistory), "print the history of moves")
		fs.StringVar(&aliasesAlias, "alias", keepStr(fs, aliasesAlias), "only this alias (with --history)")
		fs.BoolVar(&aliasesJSON, "json", keepBool(fs, aliasesJSON), "print JSON")
	}
	register(&command{
		name:    "registry aliases",
		usage:   "[NAME] [--history] [--alias ALIAS] [--json]",
		summary: "show where each alias points, or the full history of alias moves",
		help: `Without --history: each alias of model NAME (default registry.model) and its
version. With --history: every move ever made (append-only): when, from
which version to which, who, why, forced or not, and the gate's verdict.`,
		flags: aliasesFlags,
		run: func(ctx context.Context, e *env, args []string) error {
			args, err := interspersed(args, aliasesFlags)
			if err != nil {
				return err
			}
			if len(args) > 1 {
				return usageError("want at most one model name")
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			name := r.Config().Model
			if len(args) == 1 {
				name = args[0]
			}
			if !aliasesHistory {
				as, err := r.Backend().Aliases(ctx, name)
				if err != nil {
					return err
				}
				if aliasesJSON {
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
			hist, err := r.Backend().History(ctx, name, aliasesAlias)
			if err != nil {
				return err
			}
			if aliasesJSON {
				if hist == nil {
					hist = []registry.Move{}
				}
				return e.writeJSON(hist)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tALIAS\t#\tFROM\tTO\tBY\tGATE\tREASON")
			for _, m := range hist {
				gate := "-"
				if d := m.Decision; d != nil {
					switch {
					case m.Forced:
						gate = "FORCED (refused)"
					case d.NotGated:
						gate = "not gated"
					case d.Current == 0:
						gate = "passed (first)"
					default:
						gate = fmt.Sprintf("passed vs %d", d.Current)
					}
				}
				from := "-"
				if m.From != 0 {
					from = strconv.Itoa(m.From)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", m.At.Format(time.RFC3339), m.Alias, m.Seq, from, m.To, orDashStr(m.By), gate, orDashStr(m.Reason))
			}
			return tw.Flush()
		},
	})

	var (
		exportOut  string
		exportJSON bool
	)
	exportFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&exportOut, "out", keepStr(fs, exportOut), "bundle `FILE` to write (required)")
		fs.BoolVar(&exportJSON, "json", keepBool(fs, exportJSON), "print the manifest as JSON")
	}
	register(&command{
		name:    "registry export",
		usage:   "REF --out FILE.tar.gz [--json]",
		summary: "write a model version's bundle for detectors (tar.gz with manifest and checksums)",
		help: `Writes the bundle of REF (NAME@VERSION, NAME@ALIAS, VERSION or ALIAS): a tar.gz
holding manifest.json (model, version, feature schema and settings, horizons,
thresholds, policy, SHA-256 of every file), manifest.sha256, the LightGBM
text models model_hH.txt and metrics.json. Detectors load it with the Go
package github.com/faultline-dev/faultline/detector (docs/detector.md), which
refuses a bundle whose checksums or feature schema do not match.`,
		flags: exportFlags,
		run: func(ctx context.Context, e *env, args []string) error {
			args, err := interspersed(args, exportFlags)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageError("want one model reference")
			}
			if exportOut == "" {
				return usageError("--out is required")
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			ref, err := registry.ParseRef(args[0], r.Config().Model)
			if err != nil {
				return usageError("%v", err)
			}
			f, err := atomicfile.Create(exportOut)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer f.Abort()
			m, err := r.Export(ctx, ref, f)
			if err != nil {
				return err
			}
			if err := f.Commit(); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if exportJSON {
				return e.writeJSON(m)
			}
			fmt.Fprintf(e.stdout, "exported %s@%d (%d files, schema %s) to %s\n", m.Model, m.Version, len(m.Files), m.FeatureSchema.Version, exportOut)
			return nil
		},
	})

	var (
		importName string
		importJSON bool
	)
	importFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&importName, "name", keepStr(fs, importName), "register under model `NAME` (default: the bundle's)")
		fs.BoolVar(&importJSON, "json", keepBool(fs, importJSON), "print the new version as JSON")
	}
	register(&command{
		name:    "registry import",
		usage:   "BUNDLE.tar.gz [--name NAME] [--json]",
		summary: "register a bundle (e.g. a model trained elsewhere) after validating it",
		help: `Reads a bundle, verifies every checksum, checks that its feature schema is
this build's (same feature names in the same order; hash too when recorded)
and that every model_hH.txt is a LightGBM text model over those features,
then registers it as the next version of NAME (default: the manifest's
model name). A model trained with LightGBM itself can be imported by writing
such a bundle around its model files (format in docs/registry.md).`,
		flags: importFlags,
		run: func(ctx context.Context, e *env, args []string) error {
			args, err := interspersed(args, importFlags)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageError("want one bundle file")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			schema := detector.Schema()
			v, err := r.Import(ctx, f, registry.ImportOptions{Name: importName, Schema: schema, By: whoAmI()})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if importJSON {
				return e.writeJSON(v)
			}
			fmt.Fprintf(e.stdout, "registered %s version %d from %s\n", v.Name, v.Version, args[0])
			return nil
		},
	})

	var (
		regWorkdir, regSource, regName, regAlias, regRunID string
		regJSON                                            bool
	)
	register(&command{
		name:    "registry register",
		usage:   "[--workdir DIR] [--source weak|ensemble] [--name NAME] [--alias candidate] [--json]",
		summary: "register the models a training run wrote in a work directory",
		help: `Registers DIR/models/SOURCE (model_hH.txt, train.json) as the next version of
NAME with its lineage (run, dataset and label hashes, code version), the
feature schema and settings of DIR/extract.json (which must match this build
and the "features" section of --config), and the metrics of contender SOURCE
in DIR/evaluation/metrics.json when present. When that evaluation also
scored the production model, its metrics on the same evaluation set are
recorded on the production version, so that the promotion gate can compare.
--alias moves an alias (e.g. candidate) to the new version through the gate.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&regWorkdir, "workdir", "", "work `DIR` of the run (default HOME/work)")
			fs.StringVar(&regSource, "source", "weak", "models/`SOURCE` to register: weak or ensemble")
			fs.StringVar(&regName, "name", "", "model `NAME` (default registry.model)")
			fs.StringVar(&regAlias, "alias", "", "then promote the new version to `ALIAS` through the gate")
			fs.StringVar(&regRunID, "run-id", "", "pipeline run `ID` to record in the lineage")
			fs.BoolVar(&regJSON, "json", false, "print the new version as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			schema, err := e.featureSchema()
			if err != nil {
				return err
			}
			r, err := e.openRegistry(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			dir := e.workdir(regWorkdir)
			v, err := r.RegisterFromDir(ctx, dir, registry.DirOptions{Name: regName, Source: regSource, Schema: schema,
				RunID: regRunID, CodeVersion: codeVersion(), By: whoAmI(), Alias: regAlias})
			if v == nil && err != nil {
				return err
			}
			if regJSON {
				if jerr := e.writeJSON(v); jerr != nil {
					return jerr
				}
			} else {
				fmt.Fprintf(e.stdout, "registered %s version %d from %s (source %s, evaluation set %s)\n", v.Name, v.Version, dir, v.Lineage.Source, orDashStr(v.Metrics.EvalSetHash))
			}
			if err != nil {
				return fmt.Errorf("registered version %d, but: %w", v.Version, err)
			}
			return nil
		},
	})
}

const interspersedSet = "interspersed"

// keepStr is a flag's default: the variable's current value when
// interspersed re-parses, else empty (a fresh invocation).
func keepStr(fs *flag.FlagSet, cur string) string {
	if fs.Name() == interspersedSet {
		return cur
	}
	return ""
}

// keepBool is keepStr for booleans.
func keepBool(fs *flag.FlagSet, cur bool) bool { return fs.Name() == interspersedSet && cur }

// interspersed parses the command's flags that follow positional arguments
// (as in 'registry promote NAME VERSION --alias production'): the command
// line parser stops at the first positional argument. define must use each
// variable's current value as its default, so that flags parsed before the
// positional arguments keep their values (see keepStr).
func interspersed(args []string, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(interspersedSet, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func printDecision(e *env, d *registry.Decision) {
	if d == nil {
		return
	}
	fmt.Fprintf(e.stdout, "gate: %s\n", d.Message)
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
