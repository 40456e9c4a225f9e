package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/faultline-dev/faultline/registry"
)

func init() {
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
in DIR/evaluation/metrics.json when present (informative: the promotion
gate computes its own evidence). When that evaluation also scored the
production model, its metrics are recorded on the production version.
--alias moves an alias (e.g. candidate) to the new version through the gate
('faultline help registry promote').

Registration is idempotent per run: with --run-id, registering the same
run's models again returns the version registered the first time instead
of creating another (other models under the same run id are refused).`,
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
			dir := e.workdir(regWorkdir)
			v, err := r.RegisterFromDir(ctx, dir, registry.DirOptions{Name: regName, Source: regSource, Schema: schema,
				RunID: regRunID, CodeVersion: codeVersion(), By: whoAmI(), Alias: regAlias,
				Evaluator: storeEvaluator{e: e, r: r}})
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
