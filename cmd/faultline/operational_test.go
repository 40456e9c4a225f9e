package main

// Regression tests of the operational probes of issue 14 ("Files silently
// ignored" and "Smaller things"); docs/security.md, "Operational
// guarantees", lists them.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/internal/stores"
	"github.com/faultline-dev/faultline/pipeline"
)

// Flags may follow positional arguments, for every command, and flags given
// before them keep their values.
func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		a    string
		b    bool
	}{
		{[]string{"X"}, []string{"X"}, "", false},
		{[]string{"--a", "1", "X", "--b"}, []string{"X"}, "1", true},
		{[]string{"X", "--a", "1"}, []string{"X"}, "1", false},
		{[]string{"--b", "X", "Y", "--a=2"}, []string{"X", "Y"}, "2", true},
		{[]string{"--a", "1", "X", "--a", "3"}, []string{"X"}, "3", false},
		{[]string{"X", "--", "--b", "Y"}, []string{"X", "--b", "Y"}, "", false},
		{[]string{"--", "-X"}, []string{"-X"}, "", false},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			a := fs.String("a", "", "")
			b := fs.Bool("b", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tc.pos) || *a != tc.a || *b != tc.b {
				t.Errorf("positional %q, a %q, b %v; want %q, %q, %v", pos, *a, *b, tc.pos, tc.a, tc.b)
			}
		})
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"X", "--nope"}); err == nil {
		t.Error("an unknown flag after an argument was accepted")
	}
}

// putRun saves a run record in home's embedded run records.
func putRun(t *testing.T, home string, r *pipeline.Record) {
	t.Helper()
	recs := &pipeline.DirRecords{Root: filepath.Join(home, stores.RunsDir)}
	if err := recs.Put(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// The probe: 'runs show ID --json' failed with "expected one RUN_ID". Every
// order of flags and arguments works, global flags included, and a flag
// given before the argument is not reset by one after it
// ('registry export --out F REF' and 'registry export REF --out F' both
// reach the same missing folder).
func TestFlagsAfterArguments(t *testing.T) {
	home := t.TempDir()
	id := "20260101T000000Z-abcdef"
	putRun(t, home, &pipeline.Record{ID: id, Status: pipeline.StatusFailed, Attempts: 1, Error: "stage label: boom",
		StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)})
	missing := filepath.Join(t.TempDir(), "b")
	out := filepath.Join(missing, "orig.tar.gz")
	tests := []struct {
		name     string
		args     []string
		code     int
		json     bool   // stdout is the record as JSON
		contains string // in stdout (code 0) or stderr
	}{
		{"json after id", []string{"--home", home, "runs", "show", id, "--json"}, 0, true, ""},
		{"json before id", []string{"--home", home, "runs", "show", "--json", id}, 0, true, ""},
		{"global flag after id", []string{"runs", "show", id, "--home", home, "--json"}, 0, true, ""},
		{"text", []string{"--home", home, "runs", "show", id}, 0, false, "run " + id + "  failed"},
		{"list json after nothing", []string{"runs", "list", "--home", home, "--json"}, 0, false, `"id": "` + id + `"`},
		{"two ids", []string{"--home", home, "runs", "show", id, "--json", id}, exitUsage, false, "expected one RUN_ID"},
		{"unknown flag after id", []string{"--home", home, "runs", "show", id, "--jsn"}, exitUsage, false, "flag provided but not defined: -jsn"},
		{"export, out after ref", []string{"--home", home, "registry", "export", "1", "--out", out}, exitFailure, false, "folder " + missing + " does not exist"},
		{"export, out before ref", []string{"--home", home, "registry", "export", "--out", out, "1"}, exitFailure, false, "folder " + missing + " does not exist"},
		{"promote, alias after version", []string{"--home", home, "registry", "promote", "faultline", "1", "--alias", "candidate"}, exitFailure, false, "model faultline version 1: not found"},
		{"promote, alias before version", []string{"--home", home, "registry", "promote", "--alias", "candidate", "faultline", "1"}, exitFailure, false, "model faultline version 1: not found"},
		{"promote, flags around the ref", []string{"--home", home, "registry", "promote", "--force", "faultline@1", "--alias", "production"}, exitUsage, false, "--force needs --reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, stdout, stderr)
			}
			if tc.json {
				var r pipeline.Record
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.ID != id || r.Status != pipeline.StatusFailed {
					t.Errorf("stdout is not the record: %v\n%s", err, stdout)
				}
			}
			got := stderr
			if code == 0 {
				got = stdout
			}
			if !strings.Contains(got, tc.contains) {
				t.Errorf("output lacks %q:\n%s", tc.contains, got)
			}
			if strings.Contains(stderr, ".tmp-") {
				t.Errorf("error names a temporary file: %s", stderr)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("export created the folder %s: %v", missing, err)
	}
}

// envHoldRun makes the test binary a stand-in for a 'faultline run' that is
// then killed: TestHoldRunHelper takes run ID's lock in the stores of
// HOME (and DSN, when given), saves its record as running, prints "ready"
// and waits to be killed.
const envHoldRun = "FAULTLINE_TEST_HOLD_RUN" // ID|HOME|DSN

func TestHoldRunHelper(t *testing.T) {
	spec := os.Getenv(envHoldRun)
	if spec == "" {
		t.Skip("helper process of TestKilledRunShowsDead")
	}
	parts := strings.SplitN(spec, "|", 3)
	ctx := context.Background()
	s := stores.New(parts[2], parts[1])
	recs, err := s.RunRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recs.LockRun(ctx, parts[0], fmt.Sprintf("pid %d", os.Getpid())); err != nil {
		t.Fatal(err)
	}
	rec := &pipeline.Record{ID: parts[0], Status: pipeline.StatusRunning, Attempts: 1, StartedAt: time.Now().UTC(),
		Stages: []*pipeline.StageRecord{{Name: "extract", Status: pipeline.StatusRunning, StartedAt: time.Now().UTC()}}}
	if err := recs.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	select {}
}

// The probe: a run killed with SIGKILL stayed "running" in 'runs list'
// forever. It is shown as dead (list and show, text and JSON) once no
// process holds its lock, and as running while its process lives; on both
// record backends.
func TestKilledRunShowsDead(t *testing.T) {
	for _, backend := range []string{"embedded", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			home := t.TempDir()
			args := []string{"--home", home}
			dsn := ""
			if backend == "postgres" {
				dsn = pgtest.DSN(t)
				args = append(args, "--db", dsn)
				mustCLI(t, append(args, "db", "migrate")...)
			}
			id := pipeline.NewRunID(time.Now())
			child := exec.Command(os.Args[0], "-test.run=^TestHoldRunHelper$", "-test.count=1")
			child.Env = append(os.Environ(), envHoldRun+"="+id+"|"+home+"|"+dsn)
			child.Stderr = os.Stderr
			stdout, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			defer child.Process.Kill()
			if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("helper process: %q, %v", line, err)
			}
			listed := func() pipeline.Status {
				var list []pipeline.Record
				out := mustCLI(t, append(args, "runs", "list", "--json")...)
				if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != id {
					t.Fatalf("runs list --json: %v\n%s", err, out)
				}
				return list[0].Status
			}
			if st := listed(); st != pipeline.StatusRunning {
				t.Errorf("live run listed as %s", st)
			}
			if out := mustCLI(t, append(args, "runs", "list")...); !strings.Contains(out, id+"  running") {
				t.Errorf("runs list of a live run:\n%s", out)
			}

			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			// The kernel releases an flock as the process dies; the server
			// releases a session's advisory locks once it sees the
			// connection gone, which may take a moment after the kill.
			st := listed()
			for deadline := time.Now().Add(time.Minute); st == pipeline.StatusRunning && backend == "postgres" && time.Now().Before(deadline); st = listed() {
				time.Sleep(50 * time.Millisecond)
			}
			if st != pipeline.StatusDead {
				t.Fatalf("killed run listed as %s, want dead", st)
			}
			if out := mustCLI(t, append(args, "runs", "list")...); !strings.Contains(out, id+"  dead") {
				t.Errorf("runs list of a killed run:\n%s", out)
			}
			out := mustCLI(t, append(args, "runs", "show", id)...)
			if !strings.Contains(out, "run "+id+"  dead") || !strings.Contains(out, "faultline run --resume "+id) || !strings.Contains(out, "extract  dead") {
				t.Errorf("runs show of a killed run:\n%s", out)
			}
			var r pipeline.Record
			out = mustCLI(t, append(args, "runs", "show", id, "--json")...)
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != pipeline.StatusDead {
				t.Errorf("runs show --json of a killed run: %v\n%s", err, out)
			}
		})
	}
}

// The probe: resuming a run that succeeded failed with "already succeeded;
// nothing to resume" followed by "resume with: faultline run --resume ID".
func TestResumeSucceededRunMessage(t *testing.T) {
	home := t.TempDir()
	id := "20260101T000000Z-5ucce5"
	putRun(t, home, &pipeline.Record{ID: id, Status: pipeline.StatusSucceeded, Attempts: 1, Dir: filepath.Join(home, stores.RunsDir, id),
		StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)})
	code, stdout, stderr := cli(t, "--home", home, "run", "--resume", id)
	if code != exitFailure || !strings.Contains(stderr, "run "+id+" already succeeded: nothing to resume") ||
		!strings.Contains(stderr, "start a new run with 'faultline run' (without --resume)") || strings.Contains(stderr, "resume with") || stdout != "" {
		t.Errorf("resume of a succeeded run: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// The probes: misnamed import files (deploymnets.csv, annotation.csv) and
// the truth.csv that 'simulate --out' wrote beside the import files were
// skipped with exit 0. They are an error listing the expected names, with
// an opt-out; and 'simulate --out' keeps its truth in a subfolder, so its
// folder imports as it is.
func TestImportFolderWithUnknownFiles(t *testing.T) {
	good := writeImportFiles(t, "service,environment,version,minute,requests,errors\napi,prod,v1,2026-06-01T08:00:00Z,10,1\n")
	// folder copies the good files, renamed by rename, plus extra files.
	folder := func(rename map[string]string, extra ...string) string {
		dir := t.TempDir()
		for _, n := range []string{"deployments.csv", "metrics.csv", "annotations.csv"} {
			b, err := os.ReadFile(filepath.Join(good, n))
			if err != nil {
				t.Fatal(err)
			}
			if to, ok := rename[n]; ok {
				n = to
			}
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range extra {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("deployment_id,faulty\nd1,false\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	singular := folder(map[string]string{"annotations.csv": "annotation.csv"})
	tests := []struct {
		name  string
		dir   string
		flags []string
		code  int
		want  []string // in stderr, or stdout on success
	}{
		{"transposed", folder(map[string]string{"deployments.csv": "deploymnets.csv"}), nil, exitUsage,
			[]string{"1 unknown file:\n  deploymnets.csv (did you mean deployments.csv?)\n"}},
		{"singular", singular, nil, exitUsage,
			[]string{"annotation.csv (did you mean annotations.csv?)", "NAME.csv or NAME.parquet with NAME one of services, deployments, metrics", "--ignore-unknown-files"}},
		{"truth beside", folder(nil, "truth.csv"), nil, exitUsage, []string{"1 unknown file:\n  truth.csv\n"}},
		{"several", folder(nil, "truth.csv", "notes.txt"), nil, exitUsage, []string{"2 unknown files:\n  notes.txt\n  truth.csv\n"}},
		{"opt-out", singular, []string{"--ignore-unknown-files"}, exitOK,
			[]string{fmt.Sprintf("%-18s %12d", "deployments", 3), fmt.Sprintf("%-18s %12d", "annotations", 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"--home", t.TempDir(), "import", "--from", tc.dir}, tc.flags...)...)
			got := stderr
			if tc.code == exitOK {
				got = stdout
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}

	t.Run("simulate --out imports as it is", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "sim")
		mustCLI(t, "--home", t.TempDir(), "simulate", "--services", "2", "--days", "1", "--out", out)
		if _, err := os.Stat(filepath.Join(out, simulate.TruthFile)); err != nil {
			t.Errorf("no ground truth in %s: %v", simulate.TruthFile, err)
		}
		if _, err := os.Stat(filepath.Join(out, "truth.csv")); !os.IsNotExist(err) {
			t.Errorf("truth.csv beside the import files: %v", err)
		}
		got := mustCLI(t, "--home", t.TempDir(), "import", "--from", out)
		if !strings.Contains(got, "imported "+out) {
			t.Errorf("import of the simulated folder:\n%s", got)
		}
	})
}

// The probe: an unknown name in labeling.model.groups was dropped without
// a word. It is a configuration error with the file, line and key path.
func TestLabelingGroupNames(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"typo", "labeling:\n  model:\n    groups:\n      - [rollback, short_livd]\n",
			[]string{`f.yaml:4: labeling.model.groups[0][1]: "short_livd" is not a labeling function (the functions: `}},
		{"block style, two groups", "labeling:\n  model:\n    groups:\n      - - rollback\n        - short_lived\n      - - healthy_evidence\n        - rollback\n        - incidnet\n",
			[]string{`f.yaml:7: labeling.model.groups[1][1]: function "rollback" is already in groups[0]: a function may be in one group only`,
				`f.yaml:8: labeling.model.groups[1][2]: "incidnet" is not a labeling function`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "f.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := cli(t, "--config", cfg, "config")
			got := strings.ReplaceAll(stderr, cfg, "f.yaml")
			if code != exitUsage {
				t.Errorf("exit %d, want %d: %s", code, exitUsage, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("stderr lacks %q:\n%s", w, got)
				}
			}
		})
	}
	// Disabled functions may stay in a group (the default group holds
	// short_lived, disabled by default), and SQL functions may be named.
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	ok := "labeling:\n  model:\n    groups: [[rollback, short_lived, mine]]\n  sql_functions:\n    - name: mine\n      sql: SELECT deployment_id, 1 FROM deployments\n"
	if err := os.WriteFile(cfg, []byte(ok), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli(t, "--config", cfg, "config"); code != exitOK {
		t.Errorf("a group of known functions: exit %d: %s", code, stderr)
	}
}

// The probe: 'runs list' on an unmigrated database printed a raw
// "relation pipeline_runs does not exist".
func TestRunsOnUnmigratedDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, args := range [][]string{{"runs", "list"}, {"runs", "show", "20260101T000000Z-abcdef"}} {
		code, _, stderr := cli(t, append([]string{"--db", dsn, "--home", t.TempDir()}, args...)...)
		if code != exitFailure || !strings.Contains(stderr, "run `faultline db migrate`") || strings.Contains(stderr, "does not exist") {
			t.Errorf("%s before migrate: exit %d, %q", strings.Join(args, " "), code, stderr)
		}
	}
}
