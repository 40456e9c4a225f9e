package promsource

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded/embeddedtest"
	"github.com/faultline-dev/faultline/internal/history/importer"
	"github.com/faultline-dev/faultline/internal/promtest"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// The simulated fleet of these tests: 8 days, so that one range query of
// the whole history exceeds Prometheus's 11,000 points.
func fleetConfig() simulate.Config {
	cfg := simulate.DefaultConfig()
	cfg.Services = 3
	cfg.Days = 8
	cfg.FaultRate = 0.2
	cfg.Seed = 7
	return cfg
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// fixture simulates the fleet once per test binary: import files (and the
// truth, in truth/) in the returned directory, history.om beside it (the
// import refuses files it does not know in its folder).
func fixture(t *testing.T) string {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "promsource-test-")
		if fixtureErr != nil {
			return
		}
		ctx := context.Background()
		cfg := fleetConfig()
		if _, fixtureErr = simulate.WriteFiles(ctx, cfg, filepath.Join(fixtureDir, "files")); fixtureErr != nil {
			return
		}
		_, fixtureErr = simulate.WriteOpenMetrics(ctx, cfg, filepath.Join(fixtureDir, "history.om"), nil)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return filepath.Join(fixtureDir, "files")
}

// openMetricsOf returns the OpenMetrics file of the fixture whose import
// files are in dir.
func openMetricsOf(dir string) string { return filepath.Join(filepath.Dir(dir), "history.om") }

func loadMapping(t *testing.T) *Mapping {
	t.Helper()
	m, err := LoadMapping(filepath.Join("testdata", "simulator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m.Query.Backoff = model.Duration(10 * time.Millisecond)
	return m
}

func newClient(t *testing.T, m *Mapping, url string) *Client {
	t.Helper()
	c, err := NewClient(m, url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fileImport(t *testing.T, s history.Store, dir string) importer.Summary {
	t.Helper()
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Import(ctx, dir, tx, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func promImport(s history.Store, c *Client, o ImportOptions) (*Result, error) {
	ctx := context.Background()
	tx, err := s.BeginImport(ctx)
	if err != nil {
		return nil, err
	}
	return Import(ctx, c, tx, o)
}

var (
	histStart = fleetConfig().Start
	histEnd   = histStart.Add(time.Duration(fleetConfig().Days) * 24 * time.Hour)
)

// content is a store's history in comparable form.
type content struct {
	deployments []history.Deployment
	series      map[history.Stream][]history.Series
	signatures  map[history.Stream][]history.Signature
}

func (c content) metricRows() (n int) {
	for _, ss := range c.series {
		for _, s := range ss {
			n += s.Len()
		}
	}
	return n
}

func (c content) signatureRows() (n int) {
	for _, ss := range c.signatures {
		n += len(ss)
	}
	return n
}

func dump(t *testing.T, s history.Reader) content {
	t.Helper()
	ctx := context.Background()
	deps, err := s.Deployments(ctx, history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	streams, err := s.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := content{deployments: deps, series: map[history.Stream][]history.Series{}, signatures: map[history.Stream][]history.Signature{}}
	for _, st := range streams {
		if c.series[st], err = s.Metrics(ctx, st, history.Range{}); err != nil {
			t.Fatal(err)
		}
		if c.signatures[st], err = s.Signatures(ctx, st, history.Range{}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// closeTo reports whether a and b are equal (NaN = NaN). The simulator's
// values go through Prometheus unchanged (latency in milliseconds, counts
// as integers), so the round trip is exact; a looser tolerance would hide
// a timing or rounding error.
func closeTo(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b
}

// sameSeries compares the metrics and signatures of two stores, exactly.
func sameSeries(t *testing.T, got, want content) {
	t.Helper()
	if len(got.series) != len(want.series) {
		t.Fatalf("%d streams, want %d", len(got.series), len(want.series))
	}
	for st, ws := range want.series {
		gs := got.series[st]
		if len(gs) != len(ws) {
			t.Fatalf("%v: %d versions, want %d", st, len(gs), len(ws))
		}
		for i := range ws {
			g, w := gs[i], ws[i]
			if g.Version != w.Version || g.Len() != w.Len() {
				t.Fatalf("%v: series %s with %d minutes, want %s with %d", st, g.Version, g.Len(), w.Version, w.Len())
			}
			for j := range w.Minutes {
				if g.Minutes[j] != w.Minutes[j] || g.Requests[j] != w.Requests[j] || g.Errors[j] != w.Errors[j] ||
					!closeTo(g.P50[j], w.P50[j]) || !closeTo(g.P95[j], w.P95[j]) || !closeTo(g.P99[j], w.P99[j]) {
					t.Fatalf("%v %q minute %s: got %v req %v err p %v/%v/%v, want %s %v req %v err p %v/%v/%v", st, w.Version,
						history.MinuteTime(g.Minutes[j]), g.Requests[j], g.Errors[j], g.P50[j], g.P95[j], g.P99[j],
						history.MinuteTime(w.Minutes[j]), w.Requests[j], w.Errors[j], w.P50[j], w.P95[j], w.P99[j])
				}
			}
		}
		gsig, wsig := got.signatures[st], want.signatures[st]
		if len(gsig) != len(wsig) {
			t.Fatalf("%v: %d signature rows, want %d", st, len(gsig), len(wsig))
		}
		for i := range wsig {
			if gsig[i] != wsig[i] {
				t.Fatalf("%v: signature %+v, want %+v", st, gsig[i], wsig[i])
			}
		}
	}
}

func TestAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("promtest: needs a Prometheus server; skipped with -short")
	}
	dir := fixture(t)
	srv := promtest.Start(t, openMetricsOf(dir))
	deployments := filepath.Join(dir, "deployments.csv")
	ref := embeddedtest.Open(t)
	fileImport(t, ref, dir)
	wantContent := dump(t, ref)
	if wantContent.metricRows() == 0 || wantContent.signatureRows() == 0 {
		t.Fatal("empty fixture: the tests would check nothing")
	}

	t.Run("round trip", func(t *testing.T) {
		got := embeddedtest.Open(t)
		c := newClient(t, loadMapping(t), srv.URL)
		res, err := promImport(got, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Metrics != int64(wantContent.metricRows()) || res.Summary.Signatures != int64(wantContent.signatureRows()) {
			t.Fatalf("summary %+v; the file import has %d metrics and %d signature rows", res.Summary, wantContent.metricRows(), wantContent.signatureRows())
		}
		sameSeries(t, dump(t, got), wantContent)
		sameFeatures(t, got, ref)
	})

	t.Run("since last and overlap", func(t *testing.T) {
		got := embeddedtest.Open(t)
		c := newClient(t, loadMapping(t), srv.URL)
		mid := histStart.Add(3*24*time.Hour + 17*time.Minute)
		if _, err := promImport(got, c, ImportOptions{From: histStart, To: mid, DeploymentsFile: deployments}); err != nil {
			t.Fatal(err)
		}
		start, err := SinceLast(context.Background(), got, histEnd)
		if err != nil {
			t.Fatal(err)
		}
		if len(start) != len(wantContent.series) {
			t.Fatalf("since-last knows %d streams, want %d", len(start), len(wantContent.series))
		}
		for st, m := range start {
			if m.After(mid) || m.Before(mid.Add(-30*time.Minute)) {
				t.Errorf("%v continues at %s, want just before %s", st, m, mid)
			}
		}
		res, err := promImport(got, c, ImportOptions{Start: start, To: histEnd})
		if err != nil {
			t.Fatal(err)
		}
		if !res.From.Before(mid) || res.From.Before(mid.Add(-30*time.Minute)) {
			t.Errorf("second import queried from %s, want the earliest continuation just before %s", res.From, mid)
		}
		sameSeries(t, dump(t, got), wantContent)
		// Importing an overlapping range again changes nothing.
		if _, err := promImport(got, c, ImportOptions{From: mid.Add(-6 * time.Hour), To: mid.Add(6 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		sameSeries(t, dump(t, got), wantContent)
	})

	t.Run("deployments recipe", func(t *testing.T) {
		c := newClient(t, loadMapping(t), srv.URL)
		got, err := c.DetectDeployments(context.Background(), history.UnixMinute(histStart), history.UnixMinute(histEnd), want{})
		if err != nil {
			t.Fatal(err)
		}
		checkDetected(t, got, wantContent.deployments)
		// Imported as the deployments table when no file is given.
		s := embeddedtest.Open(t)
		res, err := promImport(s, c, ImportOptions{From: histStart, To: histEnd})
		if err != nil {
			t.Fatal(err)
		}
		if res.DeploymentsFrom != "recipe" || res.Summary.Deployments != int64(len(got)) {
			t.Fatalf("imported %d deployments from %s, want the %d detected", res.Summary.Deployments, res.DeploymentsFrom, len(got))
		}
	})

	t.Run("failures leave the store unchanged", func(t *testing.T) {
		testFailures(t, srv.URL, deployments)
	})

	t.Run("auth", func(t *testing.T) {
		testAuth(t, srv.URL)
	})
}

// sameFeatures extracts every deploy's features from both stores and
// compares them (exactly: the inputs are equal).
func sameFeatures(t *testing.T, got, want history.Reader) {
	t.Helper()
	ctx := context.Background()
	opt := extract.Options{Config: features.DefaultConfig()}
	g, err := extract.Extract(ctx, got, opt, extract.ExtractOptions{SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := extract.Extract(ctx, want, opt, extract.ExtractOptions{SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for h, wt := range w.Features {
		gt := g.Features[h]
		if gt == nil || len(gt.IDs) != len(wt.IDs) {
			t.Fatalf("h%d: rows differ", h)
		}
		for i := range wt.IDs {
			if gt.IDs[i] != wt.IDs[i] {
				t.Fatalf("h%d row %d: deploy %s, want %s", h, i, gt.IDs[i], wt.IDs[i])
			}
			for j, v := range wt.Rows[i] {
				if !closeTo(gt.Rows[i][j], v) {
					t.Fatalf("h%d %s feature %s: %v, want %v", h, wt.IDs[i], wt.Columns[j], gt.Rows[i][j], v)
				}
			}
			rows++
		}
	}
	if rows == 0 {
		t.Fatal("no feature rows: the comparison checked nothing")
	}
}

// checkDetected: every detected deploy is a simulated one (same stream and
// version, started at most 15 minutes earlier: a low-traffic service's new
// version may serve its first request minutes after the rollout starts),
// and most simulated deploys are found.
func checkDetected(t *testing.T, got []DetectedDeployment, sim []history.Deployment) {
	t.Helper()
	type sk struct{ service, env, version string }
	byKey := map[sk][]history.Deployment{}
	for _, d := range sim {
		k := sk{d.Service, d.Environment, d.Version}
		byKey[k] = append(byKey[k], d)
	}
	matched := map[string]bool{}
	var lags []time.Duration
	for _, g := range got {
		best := time.Duration(-1)
		for _, d := range byKey[sk{g.Service, g.Environment, g.Version}] {
			lag := g.StartedAt.Sub(d.StartedAt.Truncate(time.Minute))
			if lag >= 0 && lag <= 15*time.Minute && (best < 0 || lag < best) {
				best = lag
				matched[d.ID] = true
			}
		}
		if best < 0 {
			t.Errorf("detected %+v matches no simulated deployment", g)
			continue
		}
		lags = append(lags, best)
	}
	if len(matched) < len(sim)*8/10 {
		t.Errorf("recipe found %d of %d simulated deployments, want at least 80%%", len(matched), len(sim))
	}
	slices.Sort(lags)
	onTime := 0
	for _, l := range lags {
		if l <= time.Minute {
			onTime++
		}
	}
	t.Logf("recipe: %d detected, %d of %d simulated deployments matched; %d within a minute of the start, median lag %s, max %s",
		len(got), len(matched), len(sim), onTime, lags[len(lags)/2], lags[len(lags)-1])
}

// storeCounts is a cheap fingerprint of a store's content.
func storeCounts(t *testing.T, s history.Reader) [3]int {
	c := dump(t, s)
	return [3]int{len(c.deployments), c.metricRows(), c.signatureRows()}
}

// faultProxy is a reverse proxy in front of the real server that injects
// faults: a number of 503 answers to the first range queries, or a
// credentials check.
type faultProxy struct {
	*httptest.Server
	fail503 atomic.Int32
	check   func(r *http.Request) bool
	queries atomic.Int32
}

func newFaultProxy(t *testing.T, target string, tlsServer bool) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	quiet := log.New(io.Discard, "", 0) // canceled and refused requests are expected
	rp.ErrorLog = quiet
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.check != nil && !p.check(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/api/v1/query_range") {
			p.queries.Add(1)
			if p.fail503.Add(-1) >= 0 {
				http.Error(w, "injected: overloaded", http.StatusServiceUnavailable)
				return
			}
		}
		rp.ServeHTTP(w, r)
	})
	p.Server = httptest.NewUnstartedServer(h)
	p.Server.Config.ErrorLog = quiet
	if tlsServer {
		p.Server.StartTLS()
	} else {
		p.Server.Start()
	}
	t.Cleanup(p.Close)
	return p
}

func testFailures(t *testing.T, url, deployments string) {
	base := func(t *testing.T, m *Mapping) history.Store {
		t.Helper()
		s := embeddedtest.Open(t)
		c := newClient(t, m, url)
		if _, err := promImport(s, c, ImportOptions{From: histStart, To: histStart.Add(24 * time.Hour), DeploymentsFile: deployments}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	rest := ImportOptions{From: histStart.Add(24 * time.Hour), To: histEnd, DeploymentsFile: deployments}

	t.Run("server down", func(t *testing.T) {
		m := loadMapping(t)
		m.Query.Retries = 2
		s := base(t, m)
		before := storeCounts(t, s)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + l.Addr().String()
		l.Close()
		_, err = promImport(s, newClient(t, m, down), rest)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Attempts != 3 || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "query: ") {
			t.Fatalf("got %v, want a query error after 3 attempts naming the query and the refused connection", err)
		}
		if after := storeCounts(t, s); after != before {
			t.Fatalf("store changed from %v to %v", before, after)
		}
	})

	t.Run("5xx then success", func(t *testing.T) {
		p := newFaultProxy(t, url, false)
		p.fail503.Store(2)
		m := loadMapping(t)
		m.Query.Concurrency = 1
		got := embeddedtest.Open(t)
		c := newClient(t, m, p.URL)
		var told atomic.Int32
		c.OnRetry = func(q string, attempt int, wait time.Duration, err error) {
			if strings.Contains(err.Error(), "503") && q != "" {
				told.Add(1)
			}
		}
		res, err := promImport(got, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Retries != 2 || told.Load() != 2 {
			t.Fatalf("%d retries, %d reported, want the 2 injected 503s retried and reported", res.Stats.Retries, told.Load())
		}
		want := embeddedtest.Open(t)
		fileImport(t, want, filepath.Dir(deployments))
		sameSeries(t, dump(t, got), dump(t, want))
	})

	t.Run("5xx every time", func(t *testing.T) {
		p := newFaultProxy(t, url, false)
		p.fail503.Store(1 << 30)
		m := loadMapping(t)
		m.Query.Retries = 1
		s := base(t, m)
		before := storeCounts(t, s)
		_, err := promImport(s, newClient(t, m, p.URL), rest)
		if err == nil || !strings.Contains(err.Error(), "failed 2 times") || !strings.Contains(err.Error(), "503") {
			t.Fatalf("got %v, want a query failed twice with 503", err)
		}
		if after := storeCounts(t, s); after != before {
			t.Fatalf("store changed from %v to %v", before, after)
		}
	})

	for _, tc := range []struct {
		name, requests, want string
	}{
		{"400 syntax error", `sum by (service, environment, version) (increase(http_requests_total{$filter}[1m])`, "bad_data"},
		{"422 execution error", `sum by (service, environment, version) (increase(http_requests_total{$filter}[1m])) + on(service) group_left sum by (service, environment) (increase(http_requests_total[1m]))`, "execution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFaultProxy(t, url, false)
			m := loadMapping(t)
			s := base(t, m)
			before := storeCounts(t, s)
			m.Series.Requests = tc.requests
			_, err := promImport(s, newClient(t, m, p.URL), rest)
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Attempts != 1 || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "group_left") && tc.want == "execution" {
				t.Fatalf("got %v, want a refused query (%s) shown, not retried", err, tc.want)
			}
			if !strings.Contains(err.Error(), "query: sum by (service, environment, version) (increase(http_requests_total{}[1m])") {
				t.Fatalf("error does not show the query as sent: %v", err)
			}
			if after := storeCounts(t, s); after != before {
				t.Fatalf("store changed from %v to %v", before, after)
			}
		})
	}

	t.Run("points limit", func(t *testing.T) {
		// Prometheus refuses (end-start)/step > 11000, i.e. more than
		// 11001 points. A chunking one point too generous fails clearly…
		m := loadMapping(t)
		m.Query.Chunk = model.Duration(200 * time.Hour)
		m.Query.MaxPoints = 11002
		s := embeddedtest.Open(t)
		_, err := promImport(s, newClient(t, m, url), ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments})
		if err == nil || !strings.Contains(err.Error(), "11,000 points") || !strings.Contains(err.Error(), "query:") {
			t.Fatalf("got %v, want the server's points-limit error with the query", err)
		}
		if c := storeCounts(t, s); c != [3]int{} {
			t.Fatalf("store holds %v after a failed import", c)
		}
		// …and one at the limit works.
		m.Query.MaxPoints = 11001
		c := newClient(t, m, url)
		if ch := c.chunks(history.UnixMinute(histStart), history.UnixMinute(histEnd)); ch[0].to-ch[0].from != 11001 {
			t.Fatalf("first chunk has %d minutes, want 11001", ch[0].to-ch[0].from)
		}
		if _, err := promImport(s, c, ImportOptions{From: histStart, To: histEnd, DeploymentsFile: deployments}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bad values are rejected like a file's", func(t *testing.T) {
		m := loadMapping(t)
		s := base(t, m)
		before := storeCounts(t, s)
		// Errors counted twice exceed requests in some minutes.
		m.Series.Errors = `3 * sum by (service, environment, version) (increase(http_requests_total{$filter}[1m]))`
		_, err := promImport(s, newClient(t, m, url), rest)
		var ve *importer.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 20 || !ve.Truncated {
			t.Fatalf("got %v, want 20 problems (the default --max-errors)", err)
		}
		p := ve.Problems[0]
		if !strings.HasPrefix(p.File, "prometheus ") || !strings.Contains(p.File, " version ") || p.Column != "errors" || !strings.Contains(p.Reason, "exceeds requests") {
			t.Fatalf("problem %+v, want the series and minute named, errors exceeding requests", p)
		}
		if after := storeCounts(t, s); after != before {
			t.Fatalf("store changed from %v to %v", before, after)
		}
	})
}

func testAuth(t *testing.T, target string) {
	// A token file and a tenant header, checked by a TLS proxy trusted
	// through ca_file.
	p := newFaultProxy(t, target, true)
	p.check = func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer s3cret" && r.Header.Get("X-Scope-OrgID") == "tenant-1"
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	span := ImportOptions{From: histStart, To: histStart.Add(2 * time.Hour), DeploymentsFile: filepath.Join(fixture(t), "deployments.csv")}

	t.Run("refused without credentials", func(t *testing.T) {
		m := loadMapping(t)
		m.Server.CAFile = ca
		s := embeddedtest.Open(t)
		_, err := promImport(s, newClient(t, m, p.URL), span)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Attempts != 1 || !strings.Contains(err.Error(), "401") {
			t.Fatalf("got %v, want a 401 refusal, not retried", err)
		}
		if c := storeCounts(t, s); c != [3]int{} {
			t.Fatalf("store holds %v after a refused import", c)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		m := loadMapping(t)
		m.Server.BearerTokenFile = tok
		_, err := promImport(embeddedtest.Open(t), newClient(t, m, p.URL), span)
		var qe *QueryError
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &qe) || qe.Attempts != 1 || !errors.As(err, &cve) && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a certificate error, not retried", err)
		}
	})
	t.Run("token file, tenant header, CA", func(t *testing.T) {
		m := loadMapping(t)
		m.Server.CAFile = ca
		m.Server.BearerTokenFile = tok
		m.Server.Headers = map[string]string{"X-Scope-OrgID": "tenant-1"}
		res, err := promImport(embeddedtest.Open(t), newClient(t, m, p.URL), span)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Metrics == 0 {
			t.Fatal("nothing imported")
		}
	})
	t.Run("token from the environment", func(t *testing.T) {
		t.Setenv("FAULTLINE_TEST_PROM_TOKEN", "s3cret")
		m := loadMapping(t)
		m.Server.CAFile = ca
		m.Server.BearerTokenEnv = "FAULTLINE_TEST_PROM_TOKEN"
		m.Server.Headers = map[string]string{"X-Scope-OrgID": "tenant-1"}
		if _, err := promImport(embeddedtest.Open(t), newClient(t, m, p.URL), span); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		p.check = func(r *http.Request) bool {
			u, pw, ok := r.BasicAuth()
			return ok && u == "faultline" && pw == "s3cret"
		}
		m := loadMapping(t)
		m.Server.CAFile = ca
		m.Server.BasicAuth = &BasicAuth{Username: "faultline", PasswordFile: tok}
		if _, err := promImport(embeddedtest.Open(t), newClient(t, m, p.URL), span); err != nil {
			t.Fatal(err)
		}
	})
}
