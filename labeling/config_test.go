package labeling

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/internal/config"
)

// decodeSection decodes the labeling section of a YAML document over the
// defaults, as the commands do.
func decodeSection(t *testing.T, doc string) (Config, error) {
	t.Helper()
	f, err := config.Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	err = f.Section("labeling", &c)
	return c, err
}

func TestConfigYAMLDecoding(t *testing.T) {
	def := DefaultConfig()
	cases := []struct {
		name string
		doc  string
		want func() Config // nil: an error is expected
		errs []string      // substrings of the error (line numbers are internal/config's business)
	}{
		{"absent", "train: {}\n", func() Config { return def }, nil},
		{"one key", "labeling:\n  rollback:\n    within_hours: 3\n", func() Config {
			r := def.Function(FnRollback).(RollbackLF)
			r.WithinHours = 3
			return def.With(r)
		}, nil},
		{"nulls keep defaults", "labeling:\n  model: ~\n  rollback: ~\n  sql_timeout_seconds: ~\n", func() Config { return def }, nil},
		{"several sections", "labeling:\n  sql_timeout_seconds: 5\n  incident:\n    linked: false\n  healthy_evidence:\n    enabled: false\n", func() Config {
			inc, he := def.Function(FnIncident).(IncidentLF), def.Function(FnHealthy).(HealthyLF)
			inc.Linked, he.Enabled = false, false
			c := def.With(inc).With(he)
			c.SQLTimeoutSeconds = 5
			return c
		}, nil},
		{"sql functions", "labeling:\n  sql_functions:\n    - name: x\n      sql: SELECT 1\n", func() Config {
			c := def
			c.SQLFunctions = []SQLFunction{{Name: "x", SQL: "SELECT 1"}}
			return c
		}, nil},
		{"unknown section key", "labeling:\n  rolback:\n    within_hours: 3\n", nil,
			[]string{"f.yaml", "field rolback not found in type labeling.Config"}},
		{"unknown function key", "labeling:\n  rollback:\n    within_hourz: 3\n", nil,
			[]string{"f.yaml", "field within_hourz not found in type labeling.RollbackLF"}},
		{"bad type", "labeling:\n  incident:\n    window_minutes: soon\n", nil, []string{"f.yaml", "soon"}},
		{"not a mapping", "labeling: 5\n", nil, []string{"into labeling.Config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeSection(t, tc.doc)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q", tc.errs)
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v\nwant    %+v", got, want)
			}
		})
	}
}

// sectionKeys returns the top-level keys of a YAML mapping, in order.
func sectionKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	var keys []string
	m := n.Content[0]
	for i := 0; i < len(m.Content); i += 2 {
		keys = append(keys, m.Content[i].Value)
	}
	return keys
}

func TestConfigEncodingRoundTrips(t *testing.T) {
	c := DefaultConfig().With(LatencyLF{Enabled: true, WindowMinutes: 30, BaselineMinutes: 90, P95Ratio: 1.2, P99Ratio: 3,
		MinIncreaseMs: 5, MinRequests: 10, MinMinutes: 3})
	c.SQLFunctions = []SQLFunction{{Name: "x", SQL: "SELECT 1", Description: "d"}}
	c.SQLTimeoutSeconds = 7
	c.SQLDSN, c.SQLUnsafeAllowPrivilegedRole = "host=db user=lf", true
	wantKeys := []string{keyModel}
	for _, f := range registry {
		wantKeys = append(wantKeys, f.Name())
	}
	wantKeys = append(wantKeys, keySQL, keySQLTimeout, keySQLDSN, keySQLUnsafe)

	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if keys := sectionKeys(t, y); !slices.Equal(keys, wantKeys) {
		t.Errorf("YAML keys %v, want %v", keys, wantKeys)
	}
	if !strings.Contains(string(y), "latency_degradation:\n    enabled: true\n    window_minutes: 30\n") {
		t.Errorf("YAML lacks the latency settings:\n%s", y)
	}
	got := DefaultConfig()
	if err := yaml.Unmarshal(y, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("YAML round trip: %+v\nwant %+v", got, c)
	}

	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got = DefaultConfig()
	if err := json.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("JSON round trip: %+v\nwant %+v", got, c)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(j, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range wantKeys {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks key %s: %s", k, j)
		}
	}
	// sql_functions is omitted from JSON when empty, as before.
	j, _ = json.Marshal(DefaultConfig())
	if strings.Contains(string(j), keySQL) {
		t.Errorf("JSON of the defaults has %s: %s", keySQL, j)
	}
}

// A decoded configuration is a value: changing a copy leaves the original.
func TestConfigWithDoesNotAlias(t *testing.T) {
	a := DefaultConfig()
	b := a.With(RollbackLF{Enabled: false, WithinHours: 1})
	if !reflect.DeepEqual(a.Function(FnRollback), RollbackLF{}.defaults()) {
		t.Errorf("With changed the original: %+v", a.Function(FnRollback))
	}
	if !reflect.DeepEqual(b.Function(FnRollback), RollbackLF{Enabled: false, WithinHours: 1}) {
		t.Errorf("With did not set the function: %+v", b.Function(FnRollback))
	}
	if a.Function("nope") != nil {
		t.Error("Function of an unknown name is not nil")
	}
}
