package gctune

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
		wantFromEnv bool
	}{
		{name: "defaults", wantPercent: Percent, wantLimit: MemoryLimit},
		{name: "GOGC wins", env: map[string]string{"GOGC": "150"}, wantPercent: -2, wantLimit: MemoryLimit, wantFromEnv: true},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "1GiB"}, wantPercent: Percent, wantLimit: -2, wantFromEnv: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GOGC", "GOMEMLIMIT"} { // the case sets what it needs
				if v, ok := os.LookupEnv(k); ok {
					os.Unsetenv(k)
					t.Cleanup(func() { os.Setenv(k, v) })
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			beforePercent := debug.SetGCPercent(-1)
			debug.SetGCPercent(beforePercent)
			beforeLimit := debug.SetMemoryLimit(-1)
			s, restore := Apply()
			gotPercent := debug.SetGCPercent(-1)
			debug.SetGCPercent(gotPercent)
			gotLimit := debug.SetMemoryLimit(-1)
			restore()
			wantPercent, wantLimit := tc.wantPercent, tc.wantLimit
			if wantPercent == -2 { // left as it was
				wantPercent = beforePercent
			}
			if wantLimit == -2 {
				wantLimit = beforeLimit
			}
			if gotPercent != wantPercent || s.Percent != wantPercent {
				t.Errorf("GC percent %d (reported %d), want %d", gotPercent, s.Percent, wantPercent)
			}
			if gotLimit != wantLimit || s.MemoryLimit != wantLimit {
				t.Errorf("memory limit %d (reported %d), want %d", gotLimit, s.MemoryLimit, wantLimit)
			}
			if s.FromEnv != tc.wantFromEnv {
				t.Errorf("FromEnv %v, want %v", s.FromEnv, tc.wantFromEnv)
			}
			if p := debug.SetGCPercent(-1); p != beforePercent {
				t.Errorf("restore left GC percent %d, want %d", p, beforePercent)
			} else {
				debug.SetGCPercent(p)
			}
			if l := debug.SetMemoryLimit(-1); l != beforeLimit {
				t.Errorf("restore left memory limit %d, want %d", l, beforeLimit)
			}
		})
	}
}
