package promsource

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/history"
)

// matrix builds a result of one series per label set, with value v at the
// end of minute 0 (Unix minute 0: the sample at 60 s).
func matrix(v float64, labelSets ...model.LabelSet) model.Matrix {
	var out model.Matrix
	for _, ls := range labelSets {
		out = append(out, &model.SampleStream{Metric: model.Metric(ls), Values: []model.SamplePair{{Timestamp: 60_000, Value: model.SampleValue(v)}}})
	}
	return out
}

func TestCollectKeys(t *testing.T) {
	m, err := ParseMapping([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	sp := span{from: 0, to: 1}
	for _, tc := range []struct {
		name    string
		kr      keyer
		res     model.Matrix
		version string // of the one key, when no error
		err     string
	}{
		{"per version", m.metricKeyer(), matrix(5, model.LabelSet{"service": "api", "environment": "prod", "version": "v2"}), "v2", ""},
		{"no version: the aggregate series", m.metricKeyer(), matrix(5, model.LabelSet{"service": "api", "environment": "prod"}), history.AggregateVersion, ""},
		{"no environment", m.metricKeyer(), matrix(5, model.LabelSet{"service": "api", "version": "v2"}), "", `has no "environment" label`},
		{"recipe needs the version", m.deployKeyer(), matrix(1, model.LabelSet{"service": "api", "environment": "prod"}), "", `has no "version" label`},
		{"two series of one key", m.metricKeyer(), matrix(5, model.LabelSet{"service": "api", "environment": "prod", "pod": "a"},
			model.LabelSet{"service": "api", "environment": "prod", "pod": "b"}), "", "several series"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := collect(tc.res, tc.kr, want{}, sp, "expr")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "query expr") {
					t.Fatalf("got %v, want an error naming the query and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(g) != 1 {
				t.Fatalf("%d keys, want 1", len(g))
			}
			for k, vals := range g {
				if k[0] != "api" || k[1] != "prod" || k[2] != tc.version || len(vals) != 1 || vals[0] != 5 {
					t.Fatalf("key %q values %v, want api/prod version %q with 5", k, vals, tc.version)
				}
			}
		})
	}
}

func TestMetricRowsValues(t *testing.T) {
	k := key{"api", "prod", "v1"}
	sp := span{from: 0, to: 1}
	nan := math.NaN()
	for _, tc := range []struct {
		name         string
		req, errs    float64
		row          bool
		wantR, wantE float64
	}{
		{"real-valued counts kept", 100.25, 1.5, true, 100.25, 1.5},
		{"a fraction of a request is traffic", 0.25, 0, true, 0.25, 0},
		{"no errors value is 0 errors", 10, nan, true, 10, 0},
		{"zero is no row", 0, 0, false, 0, 0},
		{"errors above requests by float noise", 3, 3 * (1 + 1e-15), true, 3, 3},
		{"errors above requests for real", 3, 3.5, true, 3, 3.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grid1 := func(v float64) grid { return grid{k: {v}} }
			none := grid{}
			var rows int
			metricRows(sp, grid1(tc.req), grid1(tc.errs), none, none, none, func(history.Stream) int64 { return 0 },
				func(_ key, _ int64, r, e, _, _, _ float64) {
					rows++
					if r != tc.wantR || e != tc.wantE {
						t.Errorf("row %v requests %v errors, want %v and %v", r, e, tc.wantR, tc.wantE)
					}
				})
			if (rows == 1) != tc.row || rows > 1 {
				t.Fatalf("%d rows, want a row: %v", rows, tc.row)
			}
			// The text form of a record parses back to the same value.
			if back, err := strconv.ParseFloat(amount(tc.wantR), 64); err != nil || back != tc.wantR {
				t.Fatalf("amount(%v) = %q parses back to %v (%v)", tc.wantR, amount(tc.wantR), back, err)
			}
		})
	}
}
