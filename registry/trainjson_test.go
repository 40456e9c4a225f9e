package registry_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// RegisterFromDir reads train.json with workdir.ParseTrain, the reader every
// stage uses: the thresholds are the policy's, and a file without a valid
// policy matching its horizon models is refused, naming train.json.
func TestRegisterFromDirThresholds(t *testing.T) {
	const models = `"horizons":[{"horizon":10},{"horizon":20},{"horizon":60}]`
	tests := []struct {
		name    string
		train   string
		want    map[int]float64
		wantErr string
	}{
		{"policy", `{` + models + `,"policy":{"horizons":[10,20,60],"thresholds":[0.9,0.8,0.7]}}`,
			map[int]float64{10: 0.9, 20: 0.8, 60: 0.7}, ""},
		{"thresholds map, no policy", `{` + models + `,"thresholds":{"10":0.1,"h20":0.2,"60m":0.3}}`, nil, "0 horizons and 0 thresholds"},
		{"mismatched policy", `{` + models + `,"policy":{"horizons":[10,20,60],"thresholds":[0.9]}}`, nil, "3 horizons and 1 thresholds"},
		{"policy without a model's horizon", `{` + models + `,"policy":{"horizons":[10,20],"thresholds":[0.9,0.8]}}`, nil, "3 horizon models for a policy of 2 horizons"},
		{"not JSON", `{"policy":`, nil, "unexpected end"},
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
			if string(v.Policy) != `{"horizons":[10,20,60],"thresholds":[0.9,0.8,0.7]}` {
				t.Errorf("policy %s", v.Policy)
			}
		})
	}
}
