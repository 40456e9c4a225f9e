package extract

import (
	"strconv"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/workdir"
)

func fmtInt(i int) string { return strconv.Itoa(i) }

func testConfigDefaults() features.Config { return features.DefaultConfig() }

// readTable reads a features_hH.parquet written by Run, checking its
// columns against features.Schema, into rows.
func readTable(path string) (*FeatureTable, error) {
	fc, err := workdir.ReadFeatures(path)
	if err != nil {
		return nil, err
	}
	if err := fc.CheckSchema(); err != nil {
		return nil, err
	}
	tab := &FeatureTable{Columns: fc.Names, IDs: fc.IDs, Rows: make([][]float64, len(fc.IDs))}
	for i := range tab.Rows {
		tab.Rows[i] = fc.Row(i, nil)
	}
	return tab, nil
}
