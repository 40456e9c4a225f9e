package train

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/models/policy"
)

// TestTargetConfidenceConfig: train.target_confidence defaults to
// policy.DefaultConfidence, accepts 0 (the point estimate) and levels in
// [0.5, 1), refuses the rest with the key's line, and train.json's copy
// reads back, 0 included.
func TestTargetConfidenceConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       float64
		err        string // substring of the error; "" for none
	}{
		{"default", "train:\n  min_flagged: 3\n", policy.DefaultConfidence, ""},
		{"point estimate", "train:\n  target_confidence: 0\n", 0, ""},
		{"0.80", "train:\n  target_confidence: 0.80\n", 0.80, ""},
		{"too low", "train:\n  target_confidence: 0.3\n", 0, "faultline.yaml:2: train.target_confidence: 0.3 is not 0 (point estimate) or in [0.5, 1)"},
		{"one", "train:\n  target_confidence: 1\n", 0, "train.target_confidence: 1 is not 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decodeTrain(t, tc.yaml)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.err == "" && cfg.TargetConfidence != tc.want:
				t.Errorf("target_confidence %v, want %v", cfg.TargetConfidence, tc.want)
			}
			if tc.err != "" {
				return
			}
			js, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			back := DefaultConfig()
			if err := json.Unmarshal(js, &back); err != nil || back.TargetConfidence != tc.want {
				t.Errorf("train.json config read back with target_confidence %v (%v), want %v", back.TargetConfidence, err, tc.want)
			}
		})
	}
}
