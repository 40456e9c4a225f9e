package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/pgtest"
)

// runFaultline runs the CLI in-process: exit code, stdout, stderr.
func runFaultline(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), append([]string{"--log-format", "json"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDBCommandsNeedDB(t *testing.T) {
	t.Setenv("FAULTLINE_DB", "")
	for _, cmd := range []string{"migrate", "status"} {
		code, _, errs := runFaultline(t, "db", cmd)
		if code != exitUsage || !strings.Contains(errs, "needs a PostgreSQL database: give --db DSN or set FAULTLINE_DB") {
			t.Errorf("db %s without --db: exit %d, stderr %q", cmd, code, errs)
		}
	}
}

func TestImportUsage(t *testing.T) {
	code, _, errs := runFaultline(t, "import")
	if code != exitUsage || !strings.Contains(errs, "--from DIR is required") {
		t.Errorf("import without --from: exit %d, %q", code, errs)
	}
	code, _, errs = runFaultline(t, "import", "--from", t.TempDir())
	if code != exitUsage || !strings.Contains(errs, "deployments.csv (or deployments.parquet) is required") {
		t.Errorf("import of an empty folder: exit %d, %q", code, errs)
	}
}

func writeImportFiles(t *testing.T, metrics string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"deployments.csv": "deployment_id,service,environment,version,started_at\nd1,api,prod,v1,2026-06-01T08:00:00Z\nd2,api,prod,v2,2026-06-01T09:00:00Z\nd3,api,prod,v1,2026-06-01T10:00:00Z\n",
		"metrics.csv":     metrics,
		"annotations.csv": "deployment_id,label\nd2,faulty\n",
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDBMigrateStatusAndImport(t *testing.T) {
	dsn := pgtest.DSN(t)
	good := writeImportFiles(t, "service,environment,version,minute,requests,errors\napi,prod,v1,2026-06-01T08:00:00Z,10,1\napi,prod,v1,2026-06-01T08:01:00Z,12,0\n")

	// Unmigrated: import refuses and says what to do.
	code, _, errs := runFaultline(t, "--db", dsn, "import", "--from", good)
	if code != exitFailure || !strings.Contains(errs, "run `faultline db migrate`") {
		t.Fatalf("import before migrate: exit %d, %q", code, errs)
	}
	code, out, _ := runFaultline(t, "--db", dsn, "db", "status", "--json")
	var st struct {
		Pending    int `json:"pending"`
		Migrations []struct {
			Name    string `json:"name"`
			Applied bool   `json:"applied"`
		} `json:"migrations"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Pending == 0 || st.Pending != len(st.Migrations) {
		t.Fatalf("db status before migrate: exit %d, %s", code, out)
	}
	code, out, errs = runFaultline(t, "--db", dsn, "db", "migrate")
	if code != 0 || !strings.Contains(out, "applied 0001_services") {
		t.Fatalf("db migrate: exit %d, %q %q", code, out, errs)
	}
	code, out, _ = runFaultline(t, "--db", dsn, "db", "migrate")
	if code != 0 || !strings.Contains(out, "schema up to date") || strings.Contains(out, "applied 0001") {
		t.Fatalf("second db migrate: exit %d, %q", code, out)
	}
	code, out, _ = runFaultline(t, "--db", dsn, "db", "status")
	if code != 0 || strings.Contains(out, "pending") || !strings.Contains(out, "0001_services") {
		t.Fatalf("db status after migrate: exit %d, %q", code, out)
	}

	code, out, errs = runFaultline(t, "--db", dsn, "import", "--from", good, "--json")
	var sum struct {
		Imported bool             `json:"imported"`
		Rows     map[string]int64 `json:"rows"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || !sum.Imported {
		t.Fatalf("import --json: exit %d, %q %q", code, out, errs)
	}
	want := map[string]int64{"services": 1, "deployments": 3, "metrics": 2, "error_signatures": 0, "incidents": 0, "annotations": 1, "rollbacks_inferred": 1}
	for k, v := range want {
		if sum.Rows[k] != v {
			t.Errorf("summary %s = %d, want %d (%v)", k, sum.Rows[k], v, sum.Rows)
		}
	}
	code, out, _ = runFaultline(t, "--db", dsn, "import", "--from", good)
	if code != 0 || !strings.Contains(out, "metrics                       2") {
		t.Errorf("import table output: exit %d\n%s", code, out)
	}

	bad := writeImportFiles(t, "service,environment,version,minute,requests,errors\napi,prod,v1,2026-06-01T08:00:00Z,10,1\napi,prod,v1,2026-06-01T08:01:00Z,12,13\n")
	code, _, errs = runFaultline(t, "--db", dsn, "import", "--from", bad)
	if code != exitFailure || !strings.Contains(errs, "metrics.csv:3: errors: 13 exceeds requests (12)") {
		t.Errorf("bad import: exit %d, %q", code, errs)
	}
	code, out, _ = runFaultline(t, "--db", dsn, "import", "--from", bad, "--json")
	var rej struct {
		Imported bool `json:"imported"`
		Errors   []struct {
			File string `json:"file"`
			Line int    `json:"line"`
		} `json:"errors"`
	}
	if code != exitFailure || json.Unmarshal([]byte(out), &rej) != nil || rej.Imported || len(rej.Errors) != 1 || rej.Errors[0].Line != 3 {
		t.Errorf("bad import --json: exit %d, %q", code, out)
	}
}
