package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// codeVersion returns the VCS revision the binary was built from, or "devel".
func codeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func init() {
	register(&command{
		name:    "version",
		summary: "print the version of this binary",
		run: func(ctx context.Context, e *env, args []string) error {
			_, err := fmt.Fprintln(e.stdout, "faultline", codeVersion())
			return err
		},
	})
}
