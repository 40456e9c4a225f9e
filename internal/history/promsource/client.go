package promsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Client runs the mapping's queries against one server: range queries at a
// 1-minute step, split into chunks of at most Query.MaxPoints points, at
// most Query.Concurrency at a time, retried with backoff on 5xx answers,
// timeouts and connection failures. It is safe for concurrent use.
type Client struct {
	m    *Mapping
	url  string
	api  v1.API
	sem  chan struct{}
	opts QueryOptions

	queries atomic.Int64
	retries atomic.Int64
	samples atomic.Int64

	// OnRetry, when set, is told of each failed attempt that will be
	// retried after wait (for logs; it must be safe for concurrent use).
	OnRetry func(query string, attempt int, wait time.Duration, err error)
}

// Stats counts what a client did.
type Stats struct {
	Queries int64 `json:"queries"` // answered range queries
	Retries int64 `json:"retries"`
	Samples int64 `json:"samples"` // points received
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{Queries: c.queries.Load(), Retries: c.retries.Load(), Samples: c.samples.Load()}
}

// URL is the server's address.
func (c *Client) URL() string { return c.url }

// Mapping is the client's mapping.
func (c *Client) Mapping() *Mapping { return c.m }

// NewClient connects to the mapping's server, or to serverURL when it is
// not empty. Credentials are read now: a missing token file or empty
// variable is an error here, not at the first query.
func NewClient(m *Mapping, serverURL string) (*Client, error) {
	if serverURL == "" {
		serverURL = m.Server.URL
	}
	if serverURL == "" {
		return nil, errors.New("no Prometheus URL: give --prometheus URL or server.url in the mapping")
	}
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q: want http(s)://host[:port][/path]", serverURL)
	}
	rt, err := transport(m.Server, u.Hostname())
	if err != nil {
		return nil, err
	}
	ac, err := api.NewClient(api.Config{Address: serverURL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q: %w", serverURL, err)
	}
	return &Client{m: m, url: serverURL, api: v1.NewAPI(ac), sem: make(chan struct{}, m.Query.Concurrency), opts: m.Query}, nil
}

// authTransport adds credentials and headers to every request.
type authTransport struct {
	base   http.RoundTripper
	header http.Header
	user   string
	pass   string
	basic  bool
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range t.header {
		r.Header[k] = vs
	}
	if t.basic {
		r.SetBasicAuth(t.user, t.pass)
	}
	return t.base.RoundTrip(r)
}

// transport builds the HTTP transport for s at host.
func transport(s Server, host string) (http.RoundTripper, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	switch s.Compression {
	case "off":
		base.DisableCompression = true
	case "auto", "":
		base.DisableCompression = isLoopback(host)
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("server.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.ca_file %s: no PEM certificate in it", s.CAFile)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	t := &authTransport{base: base, header: http.Header{}}
	for k, v := range s.Headers {
		t.header.Set(k, v)
	}
	secret := func(key, file, env string) (string, error) {
		switch {
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("server.%s: %w", key, err)
			}
			v := strings.TrimSpace(string(b))
			if v == "" {
				return "", fmt.Errorf("server.%s: %s is empty", key, file)
			}
			return v, nil
		case env != "":
			v := strings.TrimSpace(os.Getenv(env))
			if v == "" {
				return "", fmt.Errorf("server: environment variable %s is empty or unset", env)
			}
			return v, nil
		}
		return "", nil
	}
	tok, err := secret("bearer_token_file", s.BearerTokenFile, s.BearerTokenEnv)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		t.header.Set("Authorization", "Bearer "+tok)
	}
	if b := s.BasicAuth; b != nil {
		pass, err := secret("basic_auth.password_file", b.PasswordFile, b.PasswordEnv)
		if err != nil {
			return nil, err
		}
		t.user, t.pass, t.basic = b.Username, pass, true
	}
	return t, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// QueryError is a query the server refused (a 4xx answer) or that kept
// failing after the retries.
type QueryError struct {
	Query      string
	Start, End time.Time // evaluation times
	Attempts   int
	Err        error
}

func (e *QueryError) Error() string {
	what := "refused"
	if e.Attempts > 1 {
		what = fmt.Sprintf("failed %d times", e.Attempts)
	}
	return fmt.Sprintf("prometheus query %s: %v\n  query: %s\n  range: %s to %s, step 1m",
		what, e.Err, e.Query, e.Start.UTC().Format(time.RFC3339), e.End.UTC().Format(time.RFC3339))
}

func (e *QueryError) Unwrap() error { return e.Err }

// retryable says whether err may go away by itself: a 5xx answer, a
// timeout, a failed or dropped connection; not a 4xx answer nor a
// certificate the client does not trust.
func retryable(err error) bool {
	var ae *v1.Error
	if errors.As(err, &ae) {
		return ae.Type == v1.ErrServer || ae.Type == v1.ErrTimeout
	}
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// describe makes an API error readable: type, message and, for answers
// that were not the API's JSON, the start of the body.
func describe(err error) error {
	var ae *v1.Error
	if errors.As(err, &ae) {
		msg := fmt.Sprintf("%s: %s", ae.Type, ae.Msg)
		if d := strings.TrimSpace(ae.Detail); d != "" {
			if len(d) > 300 {
				d = d[:300] + "…"
			}
			msg += " (" + d + ")"
		}
		return errors.New(msg)
	}
	return err
}

// rangeQuery evaluates expr at the end of every minute of [from, to) (Unix
// minutes; to-from ≤ MaxPoints) with retries.
func (c *Client) rangeQuery(ctx context.Context, expr string, from, to int64) (model.Matrix, error) {
	r := v1.Range{Start: time.Unix((from+1)*60, 0), End: time.Unix(to*60, 0), Step: time.Minute}
	wait := time.Duration(c.opts.Backoff)
	for attempt := 1; ; attempt++ {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		qctx, cancel := context.WithTimeout(ctx, time.Duration(c.opts.Timeout))
		v, _, _, err := c.api.QueryRange(qctx, expr, r, v1.WithTimeout(time.Duration(c.opts.Timeout)))
		cancel()
		<-c.sem
		if err == nil {
			m, ok := v.(model.Matrix)
			if !ok {
				return nil, &QueryError{Query: expr, Start: r.Start, End: r.End, Attempts: attempt,
					Err: fmt.Errorf("the result is a %s, want a range vector (matrix)", v.Type())}
			}
			c.queries.Add(1)
			n := 0
			for _, s := range m {
				n += len(s.Values)
				if len(s.Histograms) > 0 {
					return nil, &QueryError{Query: expr, Start: r.Start, End: r.End, Attempts: attempt,
						Err: errors.New("the result holds native histograms: turn them into numbers (e.g. histogram_quantile)")}
				}
			}
			c.samples.Add(int64(n))
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) || attempt > c.opts.Retries {
			return nil, &QueryError{Query: expr, Start: r.Start, End: r.End, Attempts: attempt, Err: describe(err)}
		}
		c.retries.Add(1)
		if c.OnRetry != nil {
			c.OnRetry(expr, attempt, wait, describe(err))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait *= 2
	}
}

// span is a range of Unix minutes [from, to).
type span struct{ from, to int64 }

// chunks splits [from, to) into spans of at most Chunk and MaxPoints minutes.
func (c *Client) chunks(from, to int64) []span {
	size := min(int64(time.Duration(c.opts.Chunk)/time.Minute), int64(c.opts.MaxPoints))
	var out []span
	for a := from; a < to; a += size {
		out = append(out, span{a, min(a+size, to)})
	}
	return out
}

// fetch evaluates every expression of exprs over every chunk, with at most
// Concurrency queries in flight and a bounded number of chunks held, and
// calls use with the results of each chunk in chunk order (res[j] is the
// result of exprs[j]; nil for an empty expression).
func (c *Client) fetch(ctx context.Context, exprs []string, chunks []span, use func(i int, res []model.Matrix) error) error {
	if len(chunks) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type slot struct {
		res  []model.Matrix
		left atomic.Int32
		done chan struct{}
	}
	slots := make([]*slot, len(chunks))
	for i := range slots {
		slots[i] = &slot{res: make([]model.Matrix, len(exprs)), done: make(chan struct{})}
	}
	// At most window chunks are fetched ahead of use.
	window := make(chan struct{}, c.opts.Concurrency+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, ch := range chunks {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s := slots[i]
			n := 0
			for _, e := range exprs {
				if e != "" {
					n++
				}
			}
			s.left.Store(int32(n))
			if n == 0 {
				close(s.done)
				continue
			}
			for j, e := range exprs {
				if e == "" {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					m, err := c.rangeQuery(ctx, e, ch.from, ch.to)
					if err != nil {
						cancel(err)
						return
					}
					s.res[j] = m
					if s.left.Add(-1) == 0 {
						close(s.done)
					}
				}()
			}
		}
	}()
	var err error
	for i := range chunks {
		select {
		case <-slots[i].done:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			err = context.Cause(ctx)
			break
		}
		if err = use(i, slots[i].res); err != nil {
			break
		}
		slots[i] = nil
		<-window
	}
	cancel(nil) // stops the launcher and the queries in flight
	wg.Wait()
	return err
}
