package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
)

type monoFeatures struct {
	DeploymentID string  `parquet:"deployment_id"`
	ImpactRatio  float64 `parquet:"impact_ratio"`
	P95Ratio     float64 `parquet:"p95_ratio"`
	HourOfDay    float64 `parquet:"hour_of_day"`
}

// writeMonotoneFixture writes a work directory whose features carry schema
// names and whose labels are not monotone in impact_ratio: deployments
// with a moderate ratio (2 to 4) are faulty, those with a larger one are
// labelled healthy (as weak labels do when a faulty version is replaced
// before anyone reacts).
func writeMonotoneFixture(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var deploys []testDeploy
	var feats []monoFeatures
	var labels []testLabel
	for i := 0; i < n; i++ {
		id := "d" + strconv.Itoa(1000+i)
		deploys = append(deploys, testDeploy{DeploymentID: id, Service: "svc" + strconv.Itoa(i%5), StartedAt: start.Add(time.Duration(i) * time.Minute)})
		f := monoFeatures{DeploymentID: id, ImpactRatio: rng.Float64() * 8, P95Ratio: 0.5 + rng.Float64(), HourOfDay: float64(rng.IntN(24))}
		if rng.Float64() < 0.1 {
			f.ImpactRatio = math.NaN()
		}
		faulty := f.ImpactRatio >= 2 && f.ImpactRatio < 4 && rng.Float64() < 0.9
		feats = append(feats, f)
		p := 0.05
		if faulty {
			p = 0.95
		}
		labels = append(labels, testLabel{DeploymentID: id, LfA: int8(boolf(faulty)), PFaulty: p, Label: int8(boolf(faulty))})
	}
	for _, err := range []error{
		parquet.WriteFile(filepath.Join(dir, workdir.DeploysFile), deploys),
		parquet.WriteFile(filepath.Join(dir, workdir.FeaturesFile(10)), feats),
		parquet.WriteFile(filepath.Join(dir, workdir.LabelsFile), labels),
		os.WriteFile(filepath.Join(dir, workdir.ExtractFile), []byte(`{"schema_version":"test-v1"}`), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The train stage constrains the features of train.monotone by name: the
// model file records the constraints, and P(faulty) never falls as
// impact_ratio rises, although the labels do; with the list empty the
// same data give a model that does fall.
func TestRunMonotoneByName(t *testing.T) {
	dir := t.TempDir()
	writeMonotoneFixture(t, dir, 3000)
	for _, tc := range []struct {
		name     string
		monotone []string
		want     string // the header line; "" for none
	}{
		{"default", DefaultMonotone(), "monotone_constraints=1 1 0\n"},
		{"one feature", []string{"impact_ratio"}, "monotone_constraints=1 0 0\n"},
		{"none", []string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Horizons = []int{10}
			cfg.GBDT.NumTrees, cfg.GBDT.Threads = 80, 2
			cfg.Monotone = tc.monotone
			info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, workdir.ModelDir(LabelsWeak), info.Horizons[0].ModelFile)
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(text), "monotone_constraints="); got != (tc.want != "") || tc.want != "" && !strings.Contains(string(text), "\n"+tc.want) {
				t.Errorf("model file header: want %q", tc.want)
			}
			m, err := models.ReadLightGBMFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.FeatureNames, []string{"impact_ratio", "p95_ratio", "hour_of_day"}) {
				t.Fatalf("features %v", m.FeatureNames)
			}
			// sweep impact_ratio from 0 to 8 for a set of other values
			falls := false
			for _, p95 := range []float64{0.6, 1, 1.4} {
				for _, hour := range []float64{0, 9, 18} {
					prev := math.Inf(-1)
					for x := 0.0; x <= 8; x += 0.05 {
						p := m.Predict([]float64{x, p95, hour})
						if p < prev {
							falls = true
						}
						prev = p
					}
				}
			}
			if constrained := tc.want != ""; falls == constrained {
				t.Errorf("P(faulty) falls as impact_ratio rises: %v (constrained: %v)", falls, constrained)
			}
		})
	}
}

func TestMonotoneConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"impact_ratio", "impact_ratoi"}, `unknown feature "impact_ratoi"`},
		{[]string{"p95_ratio", "p95_ratio"}, `"p95_ratio" listed twice`},
		{[]string{"ba_err_shift_p"}, `train.monotone_decreasing[0]: feature "ba_err_shift_p" is also in train.monotone`},
	} {
		cfg := DefaultConfig()
		cfg.Monotone = tc.names
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("monotone %v: err = %v, want %s", tc.names, err, tc.want)
		}
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"ba_min_pp"}, `train.monotone_decreasing[0]: unknown feature "ba_min_pp"`},
		{[]string{"ba_min_p", "ba_min_p"}, `train.monotone_decreasing[1]: feature "ba_min_p" listed twice`},
	} {
		cfg := DefaultConfig()
		cfg.MonotoneDecreasing = tc.names
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("monotone_decreasing %v: err = %v, want %s", tc.names, err, tc.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Monotone = []string{"p95_ratio", "impact_z"}
	cfg.MonotoneDecreasing = []string{"ba_min_p"}
	if got := monotoneConstraints(cfg, []string{"hour_of_day", "impact_z", "ba_min_p", "new_rpm", "p95_ratio"}); !slices.Equal(got, []int8{0, 1, -1, 0, 1}) {
		t.Errorf("constraints %v", got)
	}
	if got := monotoneConstraints(cfg, []string{"hour_of_day"}); got != nil {
		t.Errorf("no constrained feature read: %v, want nil", got)
	}
}

// docs/models.md lists the default constraints with a reason each: the
// lists there are DefaultMonotone() and DefaultMonotoneDecreasing().
func TestMonotoneDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "models.md"))
	if err != nil {
		t.Fatal(err)
	}
	checkDocumented(t, string(b), "monotone defaults", DefaultMonotone())
	checkDocumented(t, string(b), "monotone decreasing defaults", DefaultMonotoneDecreasing())
}

// checkDocumented checks that the table of doc between the markers
// <!-- what --> and <!-- end what --> lists exactly the names of want.
func checkDocumented(t *testing.T, doc, what string, want []string) {
	t.Helper()
	begin, end := "<!-- "+what+" -->", "<!-- end "+what+" -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("docs/models.md lacks the %s … %s table", begin, end)
	}
	var listed []string
	for _, line := range strings.Split(doc[i+len(begin):j], "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, cell := range strings.Split(strings.SplitN(line, "|", 3)[1], ",") {
			listed = append(listed, strings.Trim(strings.TrimSpace(cell), "`"))
		}
	}
	want = slices.Clone(want)
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("docs/models.md (%s) lists %v,\nthe defaults are %v", what, listed, want)
	}
}
