package extract

import (
	"context"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Result is what Extract computes: the rows Run would write to
// deploys.parquet and features_hH.parquet, in the same order and with the
// same values, held in memory.
type Result struct {
	// Summary is Run's summary (Files is empty: nothing is written).
	Summary *workdir.Extract
	// Deploys are the selected deployments, in deploy order.
	Deploys []workdir.DeployRow
	// Features holds, by horizon, the rows of features_hH.parquet.
	Features map[int]*FeatureTable
}

// FeatureTable holds the rows of one horizon's features, in memory.
type FeatureTable struct {
	Columns []string // the names of features.Schema; deployment_id excluded
	IDs     []string
	Rows    [][]float64
}

// ExtractOptions are Extract's settings beyond Options.
type ExtractOptions struct {
	// SpillDir is where a temporary spill file goes when the selection's
	// vectors are too large to keep in memory (default os.TempDir()); it
	// is made if missing, and only then.
	SpillDir string
}

// Extract computes the features of the deployments selected by opt, as Run
// does, and returns them instead of writing files. It suits small
// selections (a check, a short predict range): the cost is proportional to
// the selected deploys' environments and time span, not to the history.
func Extract(ctx context.Context, r history.Reader, opt Options, xo ExtractOptions) (*Result, error) {
	if err := checkOptions(opt); err != nil {
		return nil, err
	}
	x, selected, sum, cleanup, err := compute(ctx, r, opt, xo.SpillDir, true)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	names := features.Names()
	res := &Result{Summary: sum, Features: make(map[int]*FeatureTable, len(x.hs))}
	tabs := make([]*FeatureTable, len(x.hs))
	for i, h := range x.hs {
		tabs[i] = &FeatureTable{Columns: append([]string(nil), names...)}
		res.Features[h] = tabs[i]
	}
	res.Deploys, err = x.finish(ctx, selected, sum, func(i int, id string, vec []float64) error {
		tabs[i].IDs = append(tabs[i].IDs, id)
		tabs[i].Rows = append(tabs[i].Rows, append([]float64(nil), vec...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
