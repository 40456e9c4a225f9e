package registry_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// RegisterFromDir reads train.json's thresholds by models.ReadThresholds,
// the rule evaluation uses: the policy wins over a thresholds map, a policy
// with lists of different lengths is rejected, and a plain map is enough.
func TestRegisterFromDirThresholds(t *testing.T) {
	tests := []struct {
		name    string
		train   string
		want    map[int]float64
		wantErr string
	}{
		{"policy wins", `{"thresholds":{"10":0.1,"h20":0.2,"60m":0.3},"policy":{"horizons":[10,20,60],"thresholds":[0.9,0.8,0.7]}}`,
			map[int]float64{10: 0.9, 20: 0.8, 60: 0.7}, ""},
		{"map alone", `{"thresholds":{"10":0.1,"h20":0.2,"60m":0.3}}`, map[int]float64{10: 0.1, 20: 0.2, 60: 0.3}, ""},
		{"policy fills the map", `{"thresholds":{"10":0.1},"policy":{"horizons":[20,60],"thresholds":[0.8,0.7]}}`,
			map[int]float64{10: 0.1, 20: 0.8, 60: 0.7}, ""},
		{"mismatched policy", `{"thresholds":{"10":0.1,"20":0.2,"60":0.3},"policy":{"horizons":[10,20,60],"thresholds":[0.9]}}`,
			nil, "3 horizons and 1 thresholds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := registry.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			r := registry.New(d, registry.DefaultConfig())
			w := workdir(t, 3, "split-1", nil, "")
			writeFile(t, filepath.Join(w, "models", "weak", "train.json"), []byte(tt.train))
			v, err := r.RegisterFromDir(context.Background(), w, registry.DirOptions{Schema: registrytest.Schema})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "train.json") {
					t.Fatalf("err = %v, want %q naming train.json", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for h, th := range tt.want {
				if v.Thresholds[h] != th {
					t.Errorf("threshold at %d = %v, want %v (all %v)", h, v.Thresholds[h], th, v.Thresholds)
				}
			}
		})
	}
}
