package train

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/models/policy"
)

// decodeTrain decodes a train section as the commands do: over the
// defaults, then validated and located in the file.
func decodeTrain(t *testing.T, yaml string) (Config, error) {
	t.Helper()
	f, err := config.Parse("faultline.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := f.Section("train", &cfg); err != nil {
		return cfg, err
	}
	return cfg, f.Locate(cfg.Validate())
}

func TestTargetConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       policy.Target
		err        string // substring of the error; "" for none
	}{
		{"default", "train:\n  min_flagged: 3\n", policy.Target{Precision: 0.95}, ""},
		{"precision", "train:\n  target:\n    precision: 0.9\n", policy.Target{Precision: 0.9}, ""},
		{"false alarms replace the default precision", "train:\n  target:\n    false_alarms_per_healthy: 0.01\n", policy.Target{FalseAlarmsPerHealthy: 0.01}, ""},
		{"both", "train:\n  target:\n    precision: 0.9\n    false_alarms_per_healthy: 0.01\n", policy.Target{}, "faultline.yaml:2: train.target: set precision or false_alarms_per_healthy, not both"},
		{"out of range", "train:\n  target:\n    precision: 1.5\n", policy.Target{}, "faultline.yaml:3: train.target.precision: precision 1.5 outside (0, 1]"},
		{"empty", "train:\n  target: {}\n", policy.Target{}, "train.target: set precision or false_alarms_per_healthy"},
		{"unknown key", "train:\n  target:\n    recall: 0.9\n", policy.Target{}, "field recall not found in train.target"},
		{"retired per-look targets", "train:\n  horizons: [10, 20, 60]\n  target_precision: [0.9, 0.8, 0.7]\n", policy.Target{},
			"faultline.yaml:3: train.target_precision: per-look targets were replaced by one target for the policy as a whole: set train.target.precision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decodeTrain(t, tc.yaml)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.err == "" && cfg.Target.Policy() != tc.want:
				t.Errorf("target %+v, want %+v", cfg.Target, tc.want)
			}
		})
	}
}

// The resolved configuration shows the target and never the retired key;
// train.json's copy decodes over the defaults without mixing targets.
func TestTargetWritten(t *testing.T) {
	cfg, err := decodeTrain(t, "train:\n  target_precision: [0.9]\n")
	if err == nil {
		t.Fatal("retired key accepted")
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.Contains(s, "target:\n    precision: 0.95\n") || strings.Contains(s, "target_precision") {
		t.Errorf("resolved configuration:\n%s", s)
	}
	cfg.Target = Target{FalseAlarmsPerHealthy: 0.02}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back := DefaultConfig()
	if err := json.Unmarshal(js, &back); err != nil || back.Target != cfg.Target {
		t.Errorf("train.json config %s read back as %+v (%v)", js, back.Target, err)
	}
}
