package extract

// The ensemble's accuracy against simulator truth, for the simulation test
// (sim_test.go).

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Tally counts the unanimous ensemble's verdicts against ground truth for
// one group of deployments.
type Tally struct {
	N            int `json:"n"`            // deployments in the group
	Faulty       int `json:"faulty"`       // truly faulty
	Inconclusive int `json:"inconclusive"` // ensemble_faulty NaN
	Flagged      int `json:"flagged"`      // ensemble_faulty = 1
	TP           int `json:"tp"`           // flagged and faulty
	FP           int `json:"fp"`           // flagged and healthy
}

// Precision is TP / flagged (NaN when nothing was flagged).
func (t Tally) Precision() float64 { return metrics.Ratio(t.TP, t.Flagged) }

// Recall is TP / faulty (NaN when nothing was faulty).
func (t Tally) Recall() float64 { return metrics.Ratio(t.TP, t.Faulty) }

// FalsePositiveRate is FP / healthy (NaN without healthy deployments).
func (t Tally) FalsePositiveRate() float64 { return metrics.Ratio(t.FP, t.N-t.Faulty) }

func (t *Tally) add(faulty bool, verdict float64) {
	t.N++
	if faulty {
		t.Faulty++
	}
	switch {
	case math.IsNaN(verdict):
		t.Inconclusive++
	case verdict == 1:
		t.Flagged++
		if faulty {
			t.TP++
		} else {
			t.FP++
		}
	}
}

// EnsembleReport is the ensemble's accuracy at one horizon: overall, per
// fault shape (recall is what matters there: a healthy deploy has no shape)
// and per confounder (precision and false-positive rate matter there).
type EnsembleReport struct {
	Horizon      int              `json:"horizon"`
	All          Tally            `json:"all"`
	ByShape      map[string]Tally `json:"by_shape"`
	ByConfounder map[string]Tally `json:"by_confounder"`
}

// EvaluateEnsemble scores the ensemble_faulty column of every
// features_hH.parquet in the work directory dir against simulator truth.
func EvaluateEnsemble(dir string, horizons []int, truth []history.Truth) ([]EnsembleReport, error) {
	byID := make(map[string]history.Truth, len(truth))
	for _, t := range truth {
		byID[t.DeploymentID] = t
	}
	var out []EnsembleReport
	for _, h := range horizons {
		tab, err := workdir.ReadFeatures(filepath.Join(dir, workdir.FeaturesFile(h)), features.Schema[features.EnsembleFaulty].Name)
		if err != nil {
			return nil, err
		}
		ens := tab.Feature(features.EnsembleFaulty)
		rep := EnsembleReport{Horizon: h, ByShape: map[string]Tally{}, ByConfounder: map[string]Tally{}}
		for i, id := range tab.IDs {
			t, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("evaluate ensemble: no truth for deployment %s", id)
			}
			v := ens[i]
			rep.All.add(t.Faulty, v)
			shape := t.Shape
			if shape == "" {
				shape = "healthy"
			}
			s := rep.ByShape[shape]
			s.add(t.Faulty, v)
			rep.ByShape[shape] = s
			conf := strings.Split(t.Confounders, ",")
			if t.Confounders == "" {
				conf = []string{"none"}
			}
			for _, c := range conf {
				ct := rep.ByConfounder[c]
				ct.add(t.Faulty, v)
				rep.ByConfounder[c] = ct
			}
		}
		out = append(out, rep)
	}
	return out, nil
}

// Markdown renders reports as tables.
func Markdown(reps []EnsembleReport) string {
	var b strings.Builder
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "–"
		}
		return fmt.Sprintf("%.2f", x)
	}
	for _, r := range reps {
		fmt.Fprintf(&b, "\nHorizon %d min: %d deploys, %d faulty, %d inconclusive, flagged %d: precision %s, recall %s, FP rate %s\n\n",
			r.Horizon, r.All.N, r.All.Faulty, r.All.Inconclusive, r.All.Flagged, f(r.All.Precision()), f(r.All.Recall()), f(r.All.FalsePositiveRate()))
		b.WriteString("| group | n | faulty | inconclusive | flagged | TP | FP | precision | recall | FP rate |\n|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(kind, name string, t Tally) {
			fmt.Fprintf(&b, "| %s %s | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n", kind, name, t.N, t.Faulty, t.Inconclusive, t.Flagged, t.TP, t.FP,
				f(t.Precision()), f(t.Recall()), f(t.FalsePositiveRate()))
		}
		for _, k := range sortedKeys(r.ByShape) {
			row("shape", k, r.ByShape[k])
		}
		for _, k := range sortedKeys(r.ByConfounder) {
			row("confounder", k, r.ByConfounder[k])
		}
	}
	return b.String()
}

func sortedKeys(m map[string]Tally) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
