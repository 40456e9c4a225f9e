package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/models"
)

// CheckModelText checks that data is a single-output LightGBM text model
// that leaves can load and whose inputs are schema features: its
// feature_names (when present) must all be in names (a subset, in any
// order); without names it may read at most len(names) columns.
func CheckModelText(data []byte, names []string) error {
	if _, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false); err != nil {
		return fmt.Errorf("not a loadable LightGBM text model: %w", err)
	}
	m, err := models.ParseLightGBMText(data)
	if err != nil {
		return fmt.Errorf("LightGBM text: %w", err)
	}
	if m.NumClass != 1 {
		return fmt.Errorf("num_class %d: a binary classifier has one output", m.NumClass)
	}
	if m.FeatureNames == nil {
		if m.MaxFeatureIdx+1 > len(names) {
			return fmt.Errorf("%w: the model reads %d features, the schema has %d", ErrSchemaMismatch, m.MaxFeatureIdx+1, len(names))
		}
		return nil
	}
	// A model may read a subset of the schema, named by feature_names.
	if len(m.FeatureNames) != m.MaxFeatureIdx+1 {
		return fmt.Errorf("%d feature_names but max_feature_idx %d", len(m.FeatureNames), m.MaxFeatureIdx)
	}
	seen := map[string]bool{}
	for _, n := range m.FeatureNames {
		if !slices.Contains(names, n) {
			return fmt.Errorf("%w: the model reads feature %q, which the schema does not have", ErrSchemaMismatch, n)
		}
		if seen[n] {
			return fmt.Errorf("feature %q listed twice in feature_names", n)
		}
		seen[n] = true
	}
	return nil
}
