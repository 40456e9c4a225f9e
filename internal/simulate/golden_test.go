package simulate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden pins the output of a tiny fleet (3 services, 2 days): any change
// to the model shows up here as a diff to review, then accept with
//
//	go test ./internal/simulate -run TestGolden -update
func TestGolden(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = 3
	cfg.Days = 2
	cfg.FaultRate = 0.3
	cfg.AnnotationRate = 0.3
	files := writeAll(t, cfg)
	for _, name := range []string{"services.csv", "deployments.csv", "incidents.csv", "annotations.csv", "truth.csv", "metrics.csv"} {
		got := files[name]
		if name == "metrics.csv" { // the first two hours of every stream suffice
			got = headLines(got, 120)
		}
		path := filepath.Join("testdata", "tiny", name+".golden")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s; review and run with -update if intended", name, path)
		}
	}
}

func headLines(b []byte, n int) []byte {
	for i, c := range b {
		if c == '\n' {
			n--
			if n == 0 {
				return b[:i+1]
			}
		}
	}
	return b
}
