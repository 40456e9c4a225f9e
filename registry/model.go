package registry

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/dmitryikh/leaves"

	"github.com/faultline-dev/faultline/models/lightgbm"
)

// CheckModelText checks that data is a single-output LightGBM text model
// that leaves can load and whose inputs are schema features (lightgbm.Load:
// its feature_names, when present, must all be in names — a subset, in any
// order; without names it may read at most len(names) columns).
func CheckModelText(data []byte, names []string) error {
	if _, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), false); err != nil {
		return fmt.Errorf("not a loadable LightGBM text model: %w", err)
	}
	if _, _, err := lightgbm.Load(data, names); err != nil {
		return fmt.Errorf("LightGBM text: %w", err)
	}
	return nil
}
