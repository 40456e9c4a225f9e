package main

import (
	"context"
	"fmt"
)

func init() {
	register(&command{
		name:    "config",
		summary: "check the configuration and print it resolved: every setting, defaults filled in",
		help: `Checks --config as a whole and prints, as YAML, every section of the
configuration with the values the commands would use: the file laid over the
documented defaults. Without --config it prints the defaults, a starting
point for your own file:

  faultline config > faultline.yaml

Every command checks the configuration the same way before doing anything:
unknown sections or keys, values out of range in any section, the rules
between sections (train.horizons among features.horizons, …) and keys that
have moved are errors, each on a line of its own as FILE:LINE: key: reason,
and the exit code is 2. The settings and the rules are described in
docs/configuration.md.`,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
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
