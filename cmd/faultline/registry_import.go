package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/registry"
)

func init() {
	var (
		importName string
		importJSON bool
	)
	register(&command{
		name:    "registry import",
		usage:   "BUNDLE.tar.gz [--name NAME] [--json]",
		summary: "register a bundle (e.g. a model trained elsewhere) after validating it",
		help: `Reads a bundle, verifies every checksum, checks that its feature schema is
this build's (same feature names in the same order; hash too when recorded)
and that every model_hH.txt is a LightGBM text model over those features,
then registers it as the next version of NAME (default: the manifest's
model name). A model trained with LightGBM itself can be imported by writing
such a bundle around its model files (format in docs/registry.md).

Nothing the bundle says about itself is trusted: the version's lineage is
"imported from BUNDLE" (the bundle's claimed lineage is kept aside), and the
metrics of its metrics.json are recorded as unverified claims, which the
promotion gate never judges on. Promoting the version makes the gate score
it on the history store ('faultline help registry promote').`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&importName, "name", "", "register under model `NAME` (default: the bundle's)")
			fs.BoolVar(&importJSON, "json", false, "print the new version as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
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
			schema := detector.Schema()
			v, err := r.Import(ctx, f, registry.ImportOptions{Name: importName, Schema: schema, By: whoAmI(), From: args[0]})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if importJSON {
				return e.writeJSON(v)
			}
			fmt.Fprintf(e.stdout, "registered %s version %d, imported from %s; its metrics are unverified claims until the promotion gate computes its own ('faultline registry promote')\n", v.Name, v.Version, args[0])
			return nil
		},
	})
}
