package workdir

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// Split names: the values of split.parquet's split column.
const (
	SplitTrain = "train"
	SplitValid = "valid"
	SplitTest  = "test"
)

// SplitRow is one row of split.parquet. (Its name is the Parquet schema's:
// renaming it changes the file.)
type SplitRow struct {
	DeploymentID string `parquet:"deployment_id"`
	Split        string `parquet:"split"`
}

// WriteSplit writes split.parquet at path, atomically, rows in order.
func WriteSplit(path string, rows []SplitRow) error {
	return atomicfile.Write(path, func(f io.Writer) error {
		w := parquet.NewGenericWriter[SplitRow](f, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// ReadSplit reads split.parquet at path into deployment_id → split. An
// unknown split or a deployment in two rows is an error naming the file and
// row; a missing file gives an error wrapping fs.ErrNotExist.
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
