// Package promtest gives tests a real, throwaway Prometheus server.
//
// Start backfills a fresh TSDB in a temporary directory from an OpenMetrics
// file with `promtool tsdb create-blocks-from openmetrics`, then starts
// Debian's `prometheus` binary on that directory, listening on a free
// loopback port, with a retention long enough for samples of any age, no
// scrape targets and no remote access. It waits until the server answers
// /-/ready and stops it (SIGTERM, then SIGKILL) when the test ends; the
// server is also killed should the test binary die first.
//
// With `go test -short`, Start skips the test. Otherwise missing binaries
// fail the test with the package to install (scripts/install-deps.sh
// installs it).
//
// Usage:
//
//	srv := promtest.Start(t, "testdata/history.om")
//	client, _ := api.NewClient(api.Config{Address: srv.URL})
package promtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// InstallHint says how to get the binaries.
const InstallHint = "install Debian's prometheus package (apt-get install --no-install-recommends prometheus; scripts/install-deps.sh does it when run as root)"

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base address, e.g. http://127.0.0.1:41234.
	URL string
	// Dir holds the TSDB (Dir/data), the configuration and the server's log.
	Dir string
	// Addr is host:port of the listener.
	Addr string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // of cmd.Wait, valid after done is closed
}

// Options tune Start. The zero value is valid.
type Options struct {
	// MaxBlockDuration is passed to promtool: fewer, larger blocks make the
	// backfill of a long history faster (one pass over the input per
	// block). Default 500h (promtool rounds down to 486h).
	MaxBlockDuration time.Duration
	// ExtraArgs are appended to the prometheus command line.
	ExtraArgs []string
	// ReadyTimeout bounds the wait for /-/ready. Default 2 minutes.
	ReadyTimeout time.Duration
}

// Start backfills a new TSDB from the OpenMetrics file at openMetrics
// (nothing when it is ""), starts a server on it and returns when it is
// ready. The server stops at tb.Cleanup.
func Start(tb testing.TB, openMetrics string) *Server {
	tb.Helper()
	return StartOptions(tb, openMetrics, Options{})
}

// StartOptions is Start with options.
func StartOptions(tb testing.TB, openMetrics string, opts Options) *Server {
	tb.Helper()
	if testing.Short() {
		tb.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	bins, err := Binaries()
	if err != nil {
		tb.Fatalf("promtest: %v", err)
	}
	dir := tb.TempDir()
	if openMetrics != "" {
		if err := Backfill(context.Background(), bins.Promtool, openMetrics, filepath.Join(dir, "data"), opts.MaxBlockDuration); err != nil {
			tb.Fatalf("promtest: %v", err)
		}
	}
	s, err := run(bins.Prometheus, dir, opts)
	if err != nil {
		tb.Fatalf("promtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("promtest: %v", err)
		}
	})
	return s
}

// Bins are the paths of the two binaries.
type Bins struct {
	Prometheus, Promtool string
}

// Binaries finds prometheus and promtool in PATH.
func Binaries() (Bins, error) {
	var b Bins
	var err error
	if b.Prometheus, err = exec.LookPath("prometheus"); err != nil {
		return b, fmt.Errorf("prometheus not found in PATH: %s", InstallHint)
	}
	if b.Promtool, err = exec.LookPath("promtool"); err != nil {
		return b, fmt.Errorf("promtool not found in PATH: %s", InstallHint)
	}
	return b, nil
}

// Backfill turns the OpenMetrics file into TSDB blocks in dataDir with
// promtool. maxBlock 0 means 500h.
func Backfill(ctx context.Context, promtool, openMetrics, dataDir string, maxBlock time.Duration) error {
	if maxBlock <= 0 {
		maxBlock = 500 * time.Hour
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
		"--max-block-duration="+strconv.FormatInt(int64(maxBlock/time.Hour), 10)+"h", openMetrics, dataDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("backfill %s: promtool: %v\n%s", openMetrics, err, tail(string(out), 4000))
	}
	return nil
}

// config is the server's configuration: no scrape targets.
const config = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"

// run starts prometheus on dir/data and waits until it is ready.
func run(bin, dir string, opts Options) (*Server, error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		// Retention is counted back from the newest block: keep every
		// backfilled sample whatever its age.
		"--storage.tsdb.retention.time=100y",
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, opts.ExtraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group (a Ctrl-C to the test does not reach it first),
	// and killed if this process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	s := &Server{URL: "http://" + addr, Dir: dir, Addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(opts.ReadyTimeout); err != nil {
		_ = s.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		return nil, fmt.Errorf("%w\n%s", err, tail(string(log), 4000))
	}
	return s, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before it was ready: %v", s.err)
		default:
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus not ready after %s (last: %v)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server: SIGTERM, then SIGKILL after 30 seconds. It is safe
// to call more than once.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("prometheus did not stop within 30s of SIGTERM; killed")
	}
	return nil
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "prometheus.log"))
	return string(b)
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
