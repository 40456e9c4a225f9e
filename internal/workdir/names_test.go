package workdir

import (
	"path/filepath"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name   string
		parse  func(string) (int, bool)
		in     string
		want   int
		wantOK bool
	}{
		{"features", FeaturesHorizon, FeaturesFile(10), 10, true},
		{"features 60", FeaturesHorizon, "features_h60.parquet", 60, true},
		{"features no digits", FeaturesHorizon, "features_h.parquet", 0, false},
		{"features sign", FeaturesHorizon, "features_h-1.parquet", 0, false},
		{"features other suffix", FeaturesHorizon, "features_h10.parquet.tmp", 0, false},
		{"features temp file", FeaturesHorizon, ".features_h10.parquet.tmp-1", 0, false},
		{"model", ModelHorizon, ModelFile(20), 20, true},
		{"model as features", FeaturesHorizon, ModelFile(20), 0, false},
		{"features as model", ModelHorizon, FeaturesFile(20), 0, false},
		{"model letters", ModelHorizon, "model_h2x.txt", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.parse(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("%q: got %d %v, want %d %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if FeaturesFile(10) != "features_h10.parquet" || ModelFile(60) != "model_h60.txt" {
		t.Errorf("names %s %s", FeaturesFile(10), ModelFile(60))
	}
	if ModelDir("weak") != filepath.Join("models", "weak") || EvaluationFile(MetricsFile) != filepath.Join("evaluation", "metrics.json") {
		t.Errorf("folders %s %s", ModelDir("weak"), EvaluationFile(MetricsFile))
	}
}
