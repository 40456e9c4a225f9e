package models_test

import (
	"bufio"
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/models"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// Attribution adds up to leaves' raw score on random models, with node
// values from internal_value and computed from leaf weights.
func TestContributionsSumToRawScore(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, internal := range []bool{true, false} {
		for seed := uint64(0); seed < 5; seed++ {
			text := registrytest.ModelText(seed, names, 20, 10, internal)
			ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(text)), false)
			if err != nil {
				t.Fatal(err)
			}
			m, err := models.ParseLightGBMText(text)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Trees) != ens.NEstimators() || m.MaxFeatureIdx != 4 || strings.Join(m.FeatureNames, ",") != "a,b,c,d,e" {
				t.Fatalf("header %+v", m)
			}
			leafEns := ens.EnsembleWithLeafPredictions()
			for i := 0; i < 200; i++ {
				row := make([]float64, len(names))
				for j := range row {
					row[j] = rng.NormFloat64() * 6
					if rng.IntN(5) == 0 {
						row[j] = math.NaN()
					}
				}
				var raw [1]float64
				if err := ens.Predict(row, 0, raw[:]); err != nil {
					t.Fatal(err)
				}
				lf := make([]float64, ens.NEstimators())
				if err := leafEns.Predict(row, 0, lf); err != nil {
					t.Fatal(err)
				}
				li := make([]int, len(lf))
				for k, x := range lf {
					li[k] = int(x)
				}
				c := make([]float64, len(names))
				bias, err := m.Contributions(li, c)
				if err != nil {
					t.Fatal(err)
				}
				sum := bias
				for _, x := range c {
					sum += x
				}
				if math.Abs(sum-raw[0]) > 1e-9 {
					t.Fatalf("internal=%v seed %d row %d: bias+contributions %v, raw %v", internal, seed, i, sum, raw[0])
				}
			}
		}
	}
}

func TestParseLightGBMTextErrors(t *testing.T) {
	good := string(registrytest.ModelText(1, []string{"a", "b"}, 5, 6, true))
	if !strings.Contains(good, "split_feature=") {
		t.Fatal("test model has no split")
	}
	cases := map[string]string{
		"empty":         "",
		"no version":    strings.Replace(good, "version=v3\n", "", 1),
		"bad version":   strings.Replace(good, "version=v3", "version=v9", 1),
		"feature range": strings.Replace(good, "max_feature_idx=1", "max_feature_idx=0", 1),
		"leaf count":    strings.Replace(good, "num_leaves=", "num_leaves=1", 1),
	}
	for name, text := range cases {
		if _, err := models.ParseLightGBMText([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The structure reader accepts what the strict reader does and agrees with
// it on every tree; it also accepts LightGBM files the strict reader
// rejects (other versions, no internal values, no feature names).
func TestParseLightGBMTextAcceptsBoth(t *testing.T) {
	own, err := os.ReadFile(filepath.Join("testdata", "small_model.txt"))
	if err != nil {
		t.Fatal(err)
	}
	strict, err := models.ParseLightGBM(own)
	if err != nil {
		t.Fatal(err)
	}
	st, err := models.ParseLightGBMText(own)
	if err != nil {
		t.Fatalf("structure reader rejects MarshalLightGBM output: %v", err)
	}
	if !slices.Equal(st.FeatureNames, strict.FeatureNames) || st.MaxFeatureIdx+1 != strict.NumFeatures() || len(st.Trees) != len(strict.Trees) {
		t.Fatalf("header differs: %v/%d/%d trees vs %v/%d/%d", st.FeatureNames, st.MaxFeatureIdx+1, len(st.Trees), strict.FeatureNames, strict.NumFeatures(), len(strict.Trees))
	}
	for i, tt := range st.Trees {
		tr := strict.Trees[i]
		for j := range tt.SplitFeature {
			if int32(tt.SplitFeature[j]) != tr.SplitFeature[j] || int32(tt.Left[j]) != tr.LeftChild[j] || int32(tt.Right[j]) != tr.RightChild[j] ||
				tt.Threshold[j] != tr.Threshold[j] || (tt.DecisionType[j]&2 != 0) != tr.DefaultLeft[j] || tt.NodeValue[j] != tr.InternalValue[j] {
				t.Fatalf("tree %d node %d differs", i, j)
			}
		}
		if tt.NumLeaves != tr.NumLeaves || !slices.Equal(tt.LeafValue, tr.LeafValue) {
			t.Fatalf("tree %d leaves differ", i)
		}
	}

	lgb := registrytest.ModelText(7, []string{"a", "b", "c"}, 4, 6, false)
	for name, text := range map[string]string{
		"no internal values": string(lgb),
		"version v4":         strings.Replace(string(lgb), "version=v3", "version=v4", 1),
		"no feature names":   strings.Replace(string(lgb), "feature_names=a b c\n", "", 1),
	} {
		if _, err := models.ParseLightGBM([]byte(text)); err == nil {
			t.Errorf("%s: the strict reader accepts it; the test needs a file it rejects", name)
		}
		if _, err := models.ParseLightGBMText([]byte(text)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseLightGBMText(f *testing.F) {
	f.Add(registrytest.ModelText(1, []string{"a", "b"}, 2, 4, true))
	f.Add(registrytest.ModelText(2, []string{"a"}, 1, 1, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := models.ParseLightGBMText(data)
		if err != nil {
			return
		}
		// Any accepted model attributes its first leaves without panicking.
		leaves := make([]int, len(m.Trees))
		c := make([]float64, m.MaxFeatureIdx+1)
		m.Contributions(leaves, c)
	})
}
