package lightgbm

import "fmt"

// Load reads a model to run on rows of schema (feature names in column
// order): it parses data with Parse, requires one output (num_class 1),
// and maps the model's inputs to schema columns with Columns: cols[j] is
// the schema column of the model's input j. This is the one check, for
// the detector, registry imports and evaluation alike, that a model file
// fits the features a build computes; errors of that kind wrap
// ErrSchemaMismatch.
func Load(data []byte, schema []string) (m *Model, cols []int, err error) {
	m, err = Parse(data)
	if err != nil {
		return nil, nil, err
	}
	if m.NumClass != 1 {
		return nil, nil, fmt.Errorf("num_class %d: a binary classifier has one output", m.NumClass)
	}
	cols, err = m.Columns(schema)
	if err != nil {
		return nil, nil, err
	}
	return m, cols, nil
}

// Columns maps the model's inputs to columns of schema: by its feature
// names, each of which must be in schema (a model may read a subset, in any
// order, each feature once), or — without names — the schema's first
// columns in order.
func (m *Model) Columns(schema []string) ([]int, error) {
	n := m.NumFeatures()
	if m.FeatureNames == nil {
		if n > len(schema) {
			return nil, fmt.Errorf("%w: the model reads %d features, the schema has %d", ErrSchemaMismatch, n, len(schema))
		}
		cols := make([]int, n)
		for i := range cols {
			cols[i] = i
		}
		return cols, nil
	}
	if len(m.FeatureNames) != n {
		return nil, fmt.Errorf("%d feature_names but max_feature_idx %d", len(m.FeatureNames), m.MaxFeatureIdx)
	}
	idx := make(map[string]int, len(schema))
	for i, nm := range schema {
		if _, dup := idx[nm]; !dup {
			idx[nm] = i
		}
	}
	cols := make([]int, n)
	seen := make(map[string]bool, n)
	for j, nm := range m.FeatureNames {
		c, ok := idx[nm]
		if !ok {
			return nil, fmt.Errorf("%w: the model reads feature %q, which the schema does not have", ErrSchemaMismatch, nm)
		}
		if seen[nm] {
			return nil, fmt.Errorf("feature %q listed twice in feature_names", nm)
		}
		seen[nm] = true
		cols[j] = c
	}
	return cols, nil
}
