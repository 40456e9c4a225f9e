package labeling

import (
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// readDeployIDs reads the deployment_id column of deploys.parquet (through
// workdir.ReadDeploys).
func readDeployIDs(path string) ([]string, error) {
	rows, err := workdir.ReadDeploys(path)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.DeploymentID
	}
	return ids, nil
}

// writeLabels writes labels.parquet (through workdir.WriteLabels).
func writeLabels(path string, ids []string, m *labelmodel.Matrix, p []float64, label, gold []int8) error {
	return workdir.WriteLabels(path, &workdir.Labels{IDs: ids, Functions: m.Names, Votes: m.Cols, PFaulty: p, Label: label, Gold: gold})
}
