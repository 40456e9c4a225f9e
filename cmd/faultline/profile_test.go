package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCPUProfileEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv("FAULTLINE_CPUPROFILE", path)
	var stderr bytes.Buffer
	stop := startCPUProfile(&stderr)
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v (stderr %q)", path, err, stderr.String())
	}

	// A profile that cannot be written is reported; nothing else changes.
	t.Setenv("FAULTLINE_CPUPROFILE", filepath.Join(t.TempDir(), "missing", "cpu.prof"))
	stderr.Reset()
	startCPUProfile(&stderr)()
	if !strings.Contains(stderr.String(), "FAULTLINE_CPUPROFILE") || !strings.Contains(stderr.String(), "no profile written") {
		t.Errorf("stderr %q: want the reason and that no profile was written", stderr.String())
	}

	t.Setenv("FAULTLINE_CPUPROFILE", "")
	stderr.Reset()
	startCPUProfile(&stderr)()
	if stderr.Len() != 0 {
		t.Errorf("unset: stderr %q", stderr.String())
	}
}
