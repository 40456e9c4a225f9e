package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

func init() {
	var (
		exportOut  string
		exportJSON bool
	)
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
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&exportOut, "out", "", "bundle `FILE` to write (required)")
			fs.BoolVar(&exportJSON, "json", false, "print the manifest as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError("want one model reference")
			}
			if exportOut == "" {
				return usageError("--out is required")
			}
			r, ref, err := e.registryRef(ctx, args[0])
			if err != nil {
				return err
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
}
