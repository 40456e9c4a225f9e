package promtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Samples two years old: retention must keep them.
const sample = `# TYPE demo_requests counter
demo_requests_total{service="a"} 0 1700000000
demo_requests_total{service="a"} 60 1700000060
demo_requests_total{service="a"} 150 1700000120
# EOF
`

func TestStartBackfillsAndServes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.om")
	if err := os.WriteFile(path, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var addr string
	t.Run("serve", func(t *testing.T) {
		srv := Start(t, path)
		addr = srv.Addr
		c, err := api.NewClient(api.Config{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		v, _, _, err := v1.NewAPI(c).Query(context.Background(), `demo_requests_total - demo_requests_total offset 1m`, time.Unix(1700000120, 0))
		if err != nil {
			t.Fatalf("query: %v\n%s", err, srv.Log())
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 {
			t.Fatalf("got %v, want one sample", v)
		}
		if vec[0].Value != 90 || vec[0].Metric["service"] != "a" {
			t.Fatalf("got %v, want {service=a} 90", vec[0])
		}
	})
	// The subtest's cleanup stopped the server.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after cleanup", addr)
	}
}

func TestBackfillRejectsBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("needs promtool")
	}
	bins, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad.om")
	if err := os.WriteFile(path, []byte("demo_total{ 1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Backfill(context.Background(), bins.Promtool, path, t.TempDir(), 0)
	if err == nil || !strings.Contains(err.Error(), "bad.om") {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}
