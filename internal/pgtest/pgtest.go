// Package pgtest gives tests a real, throwaway PostgreSQL database.
//
// DSN returns the connection string of a fresh, empty database created for
// the calling test and dropped when it ends. The databases live in one
// PostgreSQL cluster per test binary, started on first use with initdb and
// pg_ctl in a temporary directory (as the postgres user when the test runs as
// root), reachable through a Unix socket in that directory only, with
// durability switched off for speed (fsync, synchronous_commit and
// full_page_writes off). Main, called from TestMain, stops and removes the
// cluster after the tests; a watchdog process also removes it should the test
// binary die without running Main (a panic or a -timeout).
//
// When FAULTLINE_TEST_DATABASE_URL is set, no cluster is started: the
// per-test databases are created in that server instead (its role needs the
// CREATEDB privilege).
//
// With `go test -short`, DSN skips the test.
//
// Usage:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.DSN(t)
//		...
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that selects an existing server.
const EnvURL = "FAULTLINE_TEST_DATABASE_URL"

var (
	startOnce sync.Once
	srv       *server
	startErr  error
	dbSeq     atomic.Int64
)

// server is where per-test databases are created.
type server struct {
	// baseDSN connects to the maintenance database; dsnFor derives the DSN
	// of another database from it.
	baseDSN string
	url     bool // baseDSN is a URL (postgres://...), not keyword=value

	mu    sync.Mutex
	admin *pgx.Conn

	// Set when this package started the cluster.
	cluster *cluster
}

// DSN returns the connection string of a new, empty database that exists for
// the duration of tb; it is dropped (forcibly disconnecting any leftover
// sessions) at tb.Cleanup. The first call in a test binary starts the
// cluster. It skips tb under -short and fails it when no server can be had.
func DSN(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("pgtest: needs PostgreSQL; skipped with -short")
	}
	s, err := get()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	name := dbName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.dsnFor(name)
}

// Main runs the tests of a package and then stops and removes the cluster
// that DSN started, if any. Call it from TestMain. It exits the process with
// the tests' exit code.
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Stop stops and removes the cluster started by DSN, if any. Main calls it;
// tests need not. DSN must not be called afterwards.
func Stop() error {
	if srv == nil {
		return nil
	}
	srv.mu.Lock()
	if srv.admin != nil {
		_ = srv.admin.Close(context.Background())
		srv.admin = nil
	}
	srv.mu.Unlock()
	if srv.cluster == nil {
		return nil
	}
	return srv.cluster.stop()
}

func get() (*server, error) {
	startOnce.Do(func() {
		srv, startErr = start()
	})
	return srv, startErr
}

func start() (*server, error) {
	if u := os.Getenv(EnvURL); u != "" {
		s := &server{baseDSN: u, url: isURL(u)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", EnvURL, err)
		}
		return s, nil
	}
	c, err := startCluster()
	if err != nil {
		return nil, err
	}
	s := &server{baseDSN: c.dsn("postgres"), cluster: c}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "SELECT 1"); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("connect to test cluster: %w", err)
	}
	return s, nil
}

// exec runs one statement on the maintenance connection, reconnecting when
// needed.
func (s *server) exec(ctx context.Context, sql string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil || s.admin.IsClosed() {
		c, err := pgx.Connect(ctx, s.baseDSN)
		if err != nil {
			return err
		}
		s.admin = c
	}
	_, err := s.admin.Exec(ctx, sql)
	return err
}

// dsnFor returns the base DSN pointing at database name.
func (s *server) dsnFor(name string) string {
	if s.url {
		u, err := url.Parse(s.baseDSN)
		if err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	// keyword=value: a later keyword overrides an earlier one.
	return s.baseDSN + " dbname=" + name
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName makes a unique, valid database name that hints at the test.
func dbName(test string) string {
	n := dbSeq.Add(1)
	hint := nonIdent.ReplaceAllString(strings.ToLower(test), "_")
	if len(hint) > 40 {
		hint = hint[:40]
	}
	return fmt.Sprintf("t%d_%d_%s", os.Getpid(), n, strings.Trim(hint, "_"))
}

// cluster is a PostgreSQL cluster in a temporary directory.
type cluster struct {
	dir      string // temp dir: data/, socket, log
	bin      string // directory of initdb, pg_ctl
	port     int
	asUser   *user.User // run server binaries as this user (root only)
	watchdog *exec.Cmd
	stopOnce sync.Once
	stopErr  error
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *cluster) dsn(db string) string {
	u := "postgres"
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.dir, c.port, u, db)
}

// command builds a command running a server binary, as c.asUser when set.
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asUser != nil {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser.Username, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	// The test's working directory may be closed to the postgres user.
	cmd.Dir = c.dir
	return cmd
}

func startCluster() (*cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("running as root: runuser is needed to start PostgreSQL as postgres: %w", err)
		}
		c.asUser = u
	}
	// Short path: the Unix socket path must stay under ~100 bytes.
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	c.dir, err = os.MkdirTemp(base, "faultline-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return nil, err
	}
	if c.asUser != nil {
		uid, _ := strconv.Atoi(c.asUser.Uid)
		gid, _ := strconv.Atoi(c.asUser.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			_ = os.RemoveAll(c.dir)
			return nil, fmt.Errorf("chown temp dir to postgres: %w", err)
		}
	}
	fail := func(err error) (*cluster, error) {
		_ = c.stop()
		return nil, err
	}
	c.port, err = freePort()
	if err != nil {
		return fail(err)
	}
	out, err := c.command("initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	// Watch this process: remove the cluster if it dies without Stop.
	if err := c.startWatchdog(); err != nil {
		return fail(err)
	}
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", c.dir,
		"-c", "listen_addresses=''",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
		"-c", "max_wal_size=4GB",
		"-c", "checkpoint_timeout=30min",
		"-c", "wal_level=minimal",
		"-c", "max_wal_senders=0",
		"-c", "autovacuum=off",
	}, " ")
	cmd := c.command("pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-o", opts, "-w", "-t", "60", "start")
	// Own process group: a Ctrl-C to the test does not reach the server,
	// which Stop or the watchdog shut down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.logFile())
		return fail(fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail(string(log), 2000)))
	}
	return c, nil
}

// startWatchdog starts a detached shell that stops the server and removes
// the directory once this process has exited.
func (c *cluster) startWatchdog() error {
	pgctl := fmt.Sprintf("%q -D %q stop -m immediate", filepath.Join(c.bin, "pg_ctl"), c.dataDir())
	if c.asUser != nil {
		pgctl = fmt.Sprintf("runuser -u %s -- %s", c.asUser.Username, pgctl)
	}
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done; if [ -d %q ]; then %s >/dev/null 2>&1; rm -rf %q; fi`,
		os.Getpid(), c.dataDir(), pgctl, c.dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	c.watchdog = cmd
	go func() { _ = cmd.Wait() }()
	return nil
}

func (c *cluster) stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
			out, err := c.command("pg_ctl", "-D", c.dataDir(), "stop", "-m", "fast", "-w", "-t", "60").CombinedOutput()
			if err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %v\n%s", err, out))
			}
		}
		if c.watchdog != nil && c.watchdog.Process != nil {
			_ = c.watchdog.Process.Kill()
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// findBin finds the directory holding initdb and pg_ctl: PATH first, then
// the newest /usr/lib/postgresql/*/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if r, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(r)
		}
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb not found in PATH or /usr/lib/postgresql/*/bin: install PostgreSQL or set %s", EnvURL)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
