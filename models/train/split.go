package train

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// MakeSplit assigns deployments to train, valid and test by start time
// (ties broken by id; deployments starting at the same millisecond never
// straddle two splits). It depends only on deploys.parquet's contents.
func MakeSplit(ids []string, startedAtMs []int64, trainFrac, validFrac float64) []workdir.SplitRow {
	n := len(ids)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if startedAtMs[ia] != startedAtMs[ib] {
			return startedAtMs[ia] < startedAtMs[ib]
		}
		return ids[ia] < ids[ib]
	})
	cut := func(k int) int { // move k forward past equal timestamps
		for k > 0 && k < n && startedAtMs[order[k]] == startedAtMs[order[k-1]] {
			k++
		}
		return k
	}
	c1 := cut(int(math.Floor(float64(n) * trainFrac)))
	c2 := max(c1, cut(int(math.Floor(float64(n)*(trainFrac+validFrac)))))
	out := make([]workdir.SplitRow, n)
	for k, i := range order {
		s := workdir.SplitTrain
		if k >= c2 {
			s = workdir.SplitTest
		} else if k >= c1 {
			s = workdir.SplitValid
		}
		out[k] = workdir.SplitRow{DeploymentID: ids[i], Split: s}
	}
	return out
}

// timeSplit is the split of the deployments of deploys.parquet.
type timeSplit struct {
	rows []workdir.SplitRow // by start time
	of   map[string]string  // deployment → split
	// deploys are the rows of deploys.parquet by deployment.
	deploys map[string]workdir.DeployRow
	info    workdir.SplitInfo
}

// splitDeploys reads deploys.parquet, splits its deployments by start time
// and writes split.parquet.
func (in *inputs) splitDeploys(cfg Config) (*timeSplit, error) {
	deploys, err := workdir.ReadDeploys(in.path(workdir.DeploysFile))
	if err != nil {
		return nil, err
	}
	if err := in.hash(workdir.DeploysFile); err != nil {
		return nil, err
	}
	ids := make([]string, len(deploys))
	ts := make([]int64, len(deploys))
	byID := make(map[string]workdir.DeployRow, len(deploys))
	for i, d := range deploys {
		ids[i], ts[i] = d.DeploymentID, d.StartedAt.UnixMilli()
		byID[d.DeploymentID] = d
	}
	s := &timeSplit{rows: MakeSplit(ids, ts, cfg.TrainFraction, cfg.ValidFraction), deploys: byID}
	s.of = make(map[string]string, len(s.rows))
	s.info = workdir.SplitInfo{Counts: map[string]int{}, TrainFraction: cfg.TrainFraction, ValidFraction: cfg.ValidFraction}
	for _, r := range s.rows {
		s.of[r.DeploymentID] = r.Split
		s.info.Counts[r.Split]++
		t := byID[r.DeploymentID].StartedAt.UTC().Format(time.RFC3339)
		if r.Split == workdir.SplitValid && s.info.ValidFrom == "" {
			s.info.ValidFrom = t
		}
		if r.Split == workdir.SplitTest && s.info.TestFrom == "" {
			s.info.TestFrom = t
		}
	}
	if s.info.Counts[workdir.SplitTrain] == 0 || s.info.Counts[workdir.SplitValid] == 0 {
		return nil, fmt.Errorf("train: %d deployments are too few to split into train/valid/test", len(deploys))
	}
	if err := workdir.WriteSplit(filepath.Join(in.dir, workdir.SplitFile), s.rows); err != nil {
		return nil, err
	}
	return s, nil
}

// startMs is deployment id's start, Unix milliseconds.
func (s *timeSplit) startMs(id string) int64 { return s.deploys[id].StartedAt.UnixMilli() }
