package promsource

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
)

const minimal = `
series:
  requests: sum by (service, environment, version) (increase(http_requests_total{$filter}[1m]))
  errors: sum by (service, environment, version) (increase(http_requests_total{code=~"5..",$filter}[1m]))
`

func TestParseMappingDefaults(t *testing.T) {
	m, err := ParseMapping([]byte(minimal + "deployments:\n  query: max by (service, environment, version) (app_build_info)\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Labels != (Labels{"service", "environment", "version"}) {
		t.Errorf("labels %+v", m.Labels)
	}
	q := m.Query
	if q.MaxPoints != 11000 || q.Chunk != model.Duration(24*time.Hour) || q.Concurrency != 4 || q.Retries != 4 ||
		q.Backoff != model.Duration(time.Second) || q.Timeout != model.Duration(2*time.Minute) || q.Delay != model.Duration(2*time.Minute) {
		t.Errorf("query defaults %+v", q)
	}
	if m.Deployments.MinGap != model.Duration(30*time.Minute) {
		t.Errorf("min_gap %v", m.Deployments.MinGap)
	}
	if m.KPIs != nil {
		t.Errorf("kpis %+v, want none by default", m.KPIs)
	}
}

func TestParseMappingKPIs(t *testing.T) {
	m, err := ParseMapping([]byte(minimal + `kpis:
  - name: success_ratio
    query: 1 - sum by (service, environment) (rate(http_requests_total{code=~"5..",$filter}[1m])) / sum by (service, environment) (rate(http_requests_total{$filter}[1m]))
    direction: lower_is_worse
    kind: ratio
  - name: queue_depth
    query: max by (service, environment) (queue_depth{$filter})
    unit: jobs
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []KPIQuery{
		{Name: "success_ratio", Direction: history.LowerIsWorse, Kind: history.KPIRatio},
		{Name: "queue_depth", Direction: history.BothWorse, Kind: history.KPIGauge, Unit: "jobs"}, // the defaults
	}
	if len(m.KPIs) != len(want) {
		t.Fatalf("kpis %+v", m.KPIs)
	}
	for i, w := range want {
		g := m.KPIs[i]
		if g.Name != w.Name || g.Direction != w.Direction || g.Kind != w.Kind || g.Unit != w.Unit || g.Query == "" {
			t.Errorf("kpis[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseMappingErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", minimal + "serie: {}\n", "field serie not found"},
		{"no requests", "series:\n  errors: x\n", "series.requests: required"},
		{"bad label", minimal + "labels:\n  service: app-name\n", `labels.service: "app-name" is not a label name`},
		{"same labels", minimal + "labels:\n  environment: service\n", "three different labels"},
		{"placeholder", "series:\n  requests: x{$service}\n  errors: y\n", "unknown placeholder $service"},
		{"longer placeholder", "series:\n  requests: x{$filter_ksm}\n  errors: y\n", "unknown placeholder $filter_ksm"},
		{"chunk", minimal + "query:\n  chunk: 90s\n", "query.chunk"},
		{"two tokens", minimal + "server:\n  bearer_token_file: a\n  bearer_token_env: B\n", "exclusive"},
		{"basic without user", minimal + "server:\n  basic_auth:\n    password_env: P\n", "username: required"},
		{"recipe without query", minimal + "deployments:\n  min_gap: 10m\n", "deployments.query: required"},
		{"KPI without name", minimal + "kpis:\n  - query: x\n", "kpis[0].name: required"},
		{"KPI without query", minimal + "kpis:\n  - name: a\n", "kpis[0].query: required"},
		{"KPI twice", minimal + "kpis:\n  - {name: a, query: x}\n  - {name: a, query: y}\n", `kpis[1].name: "a" is given twice`},
		{"KPI direction", minimal + "kpis:\n  - {name: a, query: x, direction: up}\n", `kpis[0].direction: higher_is_worse, lower_is_worse or both, not "up"`},
		{"KPI kind", minimal + "kpis:\n  - {name: a, query: x, kind: percent}\n", `kpis[0].kind: rate, ratio, latency or gauge, not "percent"`},
		{"KPI placeholder", minimal + "kpis:\n  - {name: a, query: 'x{$service}'}\n", "kpis[0].query: unknown placeholder $service"},
		{"KPI unknown key", minimal + "kpis:\n  - {name: a, query: x, labels: y}\n", "field labels not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseMappingKeepsLabelReplaceReferences(t *testing.T) {
	y := minimal + `deployments:
  query: max by (service, environment, version) (label_replace(kube_replicaset_labels{$filter}, "version", "$1", "label_v", "(.*)") or label_replace(x, "version", "${1}", "y", "(.*)"))
`
	if _, err := ParseMapping([]byte(y)); err != nil {
		t.Fatal(err)
	}
}

func TestChunksRespectMaxPoints(t *testing.T) {
	for _, tc := range []struct {
		chunk     time.Duration
		maxPoints int
		from, to  int64
		want      []span
	}{
		{24 * time.Hour, 11000, 0, 3000, []span{{0, 1440}, {1440, 2880}, {2880, 3000}}},
		{200 * time.Hour, 11000, 100, 22200, []span{{100, 11100}, {11100, 22100}, {22100, 22200}}},
		{time.Hour, 11000, 5, 5, nil},
	} {
		c := &Client{opts: QueryOptions{Chunk: model.Duration(tc.chunk), MaxPoints: tc.maxPoints}}
		got := c.chunks(tc.from, tc.to)
		if len(got) != len(tc.want) {
			t.Fatalf("chunks(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("chunks(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
			}
		}
	}
}

func TestMatchers(t *testing.T) {
	m := &Mapping{Filter: ` job="api", `}
	if got := m.matchers("service", `a"b`, "environment", "prod"); got != `job="api",service="a\"b",environment="prod"` {
		t.Errorf("matchers = %s", got)
	}
	if got := expand(`x{code="500",$filter}`, ""); got != `x{code="500",}` {
		t.Errorf("expand = %s", got)
	}
}
