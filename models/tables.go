package models

import (
	"fmt"
	"io"

	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/parquet-go/parquet-go"
)

// FeatureTable is a features_hH.parquet file: one row per deployment.
type FeatureTable struct {
	IDs   []string
	Names []string
	Cols  [][]float64 // Cols[f][row]
}

// ReadFeatureTable reads a features file: deployment_id then numeric
// feature columns (through extract.ReadFeatureColumns, the shared reader).
func ReadFeatureTable(path string) (*FeatureTable, error) {
	fc, err := extract.ReadFeatureColumns(path)
	if err != nil {
		return nil, err
	}
	return &FeatureTable{IDs: fc.IDs, Names: fc.Names, Cols: fc.Cols}, nil
}

// column returns the named column or nil.
func (ft *FeatureTable) column(name string) []float64 {
	for i, n := range ft.Names {
		if n == name {
			return ft.Cols[i]
		}
	}
	return nil
}

type deployRef struct {
	id        string
	startedAt int64 // ms since epoch
}

// readDeploys reads deploys.parquet through extract.ReadDeploys, the
// shared reader, keeping the id and start time of each row.
func readDeploys(path string) ([]deployRef, error) {
	rows, err := extract.ReadDeploys(path)
	if err != nil {
		return nil, err
	}
	out := make([]deployRef, len(rows))
	for i, r := range rows {
		out[i] = deployRef{id: r.DeploymentID, startedAt: r.StartedAt.UnixMilli()}
	}
	return out, nil
}

type weakLabel struct {
	pFaulty float64
	label   int64
}

// readWeakLabels reads labels.parquet through labeling.ReadLabels, the
// shared reader, into deployment_id → posterior and label.
func readWeakLabels(path string) (map[string]weakLabel, error) {
	l, err := labeling.ReadLabels(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]weakLabel, len(l.IDs))
	for i, id := range l.IDs {
		out[id] = weakLabel{pFaulty: l.PFaulty[i], label: int64(l.Label[i])}
	}
	return out, nil
}

// SplitRow is one row of split.parquet.
type SplitRow struct {
	DeploymentID string `parquet:"deployment_id"`
	Split        string `parquet:"split"`
}

// Split names.
const (
	SplitTrain = "train"
	SplitValid = "valid"
	SplitTest  = "test"
)

func writeSplit(path string, rows []SplitRow) error {
	return atomicfile.Write(path, func(f io.Writer) error {
		w := parquet.NewGenericWriter[SplitRow](f, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// ReadSplit reads split.parquet into deployment_id → split.
func ReadSplit(path string) (map[string]string, error) {
	rows, err := parquet.ReadFile[SplitRow](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make(map[string]string, len(rows))
	for i, r := range rows {
		switch r.Split {
		case SplitTrain, SplitValid, SplitTest:
		default:
			return nil, fmt.Errorf("%s: row %d: unknown split %q", path, i+1, r.Split)
		}
		if _, dup := out[r.DeploymentID]; dup {
			return nil, fmt.Errorf("%s: row %d: deployment %q in two rows", path, i+1, r.DeploymentID)
		}
		out[r.DeploymentID] = r.Split
	}
	return out, nil
}
