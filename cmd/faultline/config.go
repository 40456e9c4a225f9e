package main

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
)

func init() {
	register(&command{
		name:    "config",
		summary: "print the resolved configuration: every setting, defaults filled in",
		help: `Prints, as YAML, every section of the configuration with the values the
commands would use: the file given with --config laid over the documented
defaults. Without --config it prints the defaults, a starting point for your
own file:

  faultline config > faultline.yaml

Unknown sections or keys in --config are errors naming the file and line.
The settings are described in docs/configuration.md.`,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			sections := []struct {
				name string
				dst  any
			}{
				{"run", ptr(pipeline.DefaultConfig())},
				{"simulate", ptr(simulate.DefaultConfig())},
				{"features", ptr(features.DefaultConfig())},
				{"labeling", ptr(labeling.DefaultConfig())},
				{"train", ptr(models.DefaultConfig())},
				{"evaluate", ptr(evaluation.DefaultConfig())},
				{"registry", ptr(registry.DefaultConfig())},
			}
			for _, s := range sections {
				if err := e.cfg.Section(s.name, s.dst); err != nil {
					return err
				}
			}
			if u := e.cfg.Unused(); len(u) > 0 {
				return usageError("%s: unknown configuration sections %v", e.cfg.Path(), u)
			}
			out, err := e.cfg.Resolved()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(e.stdout, string(out))
			return err
		},
	})
}

func ptr[T any](v T) *T { return &v }
