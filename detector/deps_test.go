package detector_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/faultline-dev/faultline"

// The serving path stays light: a detector service that embeds package
// detector must not inherit the training stack, a database driver or
// Parquet. detector depends only on features, models/lightgbm,
// models/policy, registry/bundle and internal/metrics of this module (and
// leaves for inference).
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", module+"/detector").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	allowed := map[string]bool{}
	for _, p := range []string{"detector", "features", "models/lightgbm", "models/policy", "registry/bundle", "internal/metrics"} {
		allowed[module+"/"+p] = true
	}
	// packages and their subpackages, except the trainer (models) alone
	forbidden := []string{"github.com/jackc/pgx", "github.com/parquet-go", module + "/internal/history", module + "/labeling",
		module + "/features/extract", module + "/internal/workdir"}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d+"/", f+"/") {
				t.Errorf("detector depends on %s", d)
			}
		}
		if d == module+"/models" {
			t.Errorf("detector depends on the trainer, %s", d)
		}
		if strings.HasPrefix(d, module+"/") && !allowed[d] {
			t.Errorf("detector depends on %s, which is not part of the serving path", d)
		}
	}
	// Half of the 334 packages it listed when it imported the trainer.
	if len(deps) > 167 {
		t.Errorf("detector depends on %d packages, want at most 167", len(deps))
	}
	if len(deps) < 10 || !strings.Contains(string(out), "github.com/dmitryikh/leaves\n") {
		t.Errorf("go list output does not look like detector's dependencies:\n%s", out)
	}
}
