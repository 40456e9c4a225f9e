package models

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

var thresholdDigits = regexp.MustCompile(`\d+`)

// ReadThresholds returns the per-horizon thresholds of a train.json.
//
// The sequential policy ("policy": {"horizons": [...], "thresholds": [...]},
// what Run writes) wins; its two lists must have the same length. A plain
// "thresholds" map, keyed "10", "h10" or "10m", is read too and gives the
// horizons the policy does not name (all of them when there is no policy).
// Horizons named nowhere are absent from the result.
func ReadThresholds(data []byte) (map[int]float64, error) {
	var tj struct {
		Thresholds map[string]float64 `json:"thresholds"`
		Policy     *struct {
			Horizons   []int     `json:"horizons"`
			Thresholds []float64 `json:"thresholds"`
		} `json:"policy"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, err
	}
	out := map[int]float64{}
	for k, v := range tj.Thresholds {
		if d := thresholdDigits.FindString(k); d != "" {
			h, _ := strconv.Atoi(d)
			out[h] = v
		}
	}
	if tj.Policy != nil {
		if len(tj.Policy.Horizons) != len(tj.Policy.Thresholds) {
			return nil, fmt.Errorf("policy: %d horizons and %d thresholds", len(tj.Policy.Horizons), len(tj.Policy.Thresholds))
		}
		for i, h := range tj.Policy.Horizons {
			out[h] = tj.Policy.Thresholds[i]
		}
	}
	return out, nil
}
