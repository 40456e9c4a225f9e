package workdir

import (
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go"
)

// DeployRow is one row of deploys.parquet. (Its name is the Parquet
// schema's: renaming it changes the file.)
type DeployRow struct {
	DeploymentID string    `parquet:"deployment_id"`
	Service      string    `parquet:"service"`
	Environment  string    `parquet:"environment"`
	Version      string    `parquet:"version"`
	StartedAt    time.Time `parquet:"started_at,timestamp(millisecond)"`
	Kind         string    `parquet:"kind"`
}

// WriteDeploys writes deploys.parquet at path, atomically, rows in order.
// It is DeployWriter's loop, so that a file written row by row has the
// same bytes.
func WriteDeploys(path string, rows []DeployRow) error {
	dw, err := CreateDeploys(path)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := dw.Add(r); err != nil {
			dw.Abort()
			return err
		}
	}
	return dw.Close()
}

// ReadDeploys reads deploys.parquet at path, in file order. Columns other
// than deployment_id that the file lacks read as zero values. An empty or
// repeated deployment_id is an error naming the file and row; a missing
// file gives an error wrapping fs.ErrNotExist.
func ReadDeploys(path string) ([]DeployRow, error) {
	rows, err := parquet.ReadFile[DeployRow](path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	seen := make(map[string]bool, len(rows))
	for i, r := range rows {
		if r.DeploymentID == "" {
			return nil, fmt.Errorf("%s: row %d: empty deployment_id", path, i+1)
		}
		if seen[r.DeploymentID] {
			return nil, fmt.Errorf("%s: row %d: deployment %q appears twice", path, i+1, r.DeploymentID)
		}
		seen[r.DeploymentID] = true
	}
	return rows, nil
}
