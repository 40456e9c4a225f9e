package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models"
)

// Trained is a label source's trained models as written by Run.
type Trained struct {
	Info   *workdir.Train
	Config Config          // Info.Config decoded over DefaultConfig
	Models []*models.Model // one per Info.Horizons, read back from model_hH.txt
}

// LoadTrained reads models/SOURCE/train.json of the work directory dir and
// its model files.
func LoadTrained(dir, source string) (*Trained, error) {
	mdir := filepath.Join(dir, workdir.ModelDir(source))
	info, err := workdir.ReadTrain(filepath.Join(mdir, workdir.TrainFile))
	if err != nil {
		return nil, err
	}
	t := &Trained{Info: info, Config: DefaultConfig()}
	if len(info.Config) > 0 {
		if err := json.Unmarshal(info.Config, &t.Config); err != nil {
			return nil, fmt.Errorf("%s: config: %w", filepath.Join(mdir, workdir.TrainFile), err)
		}
	}
	for _, h := range info.Horizons {
		m, err := models.ReadLightGBMFile(filepath.Join(mdir, h.ModelFile))
		if err != nil {
			return nil, err
		}
		t.Models = append(t.Models, m)
	}
	return t, nil
}

// SplitScores are the policy inputs for the deployments of one split.
type SplitScores struct {
	IDs      []string
	Horizons []int
	// Probs[d][i] is P(faulty) of deployment d at Horizons[i], NaN when the
	// deployment has no features at that horizon.
	Probs [][]float64
	// Labels[d] is the label source's target (soft for weak labels), NaN when unlabelled.
	Labels []float64
}

// ScoreSplit scores every deployment of split ("train", "valid" or "test",
// per split.parquet) of the work directory dir with the trained models of
// source, and attaches the source's labels (deployments on which every
// labeling function abstained are unlabelled; annotations are not read:
// the labels are the source's, whatever train.annotations).
// policy.Evaluate(t.Info.Policy, s.Probs, s.Labels) then gives the policy's
// precision, recall, time to detection and false alarms.
func ScoreSplit(ctx context.Context, dir, source, split string) (*SplitScores, error) {
	t, err := LoadTrained(dir, source)
	if err != nil {
		return nil, err
	}
	splitOf, err := workdir.ReadSplit(filepath.Join(dir, workdir.SplitFile))
	if err != nil {
		return nil, err
	}
	labels, _, err := readLabels(dir, source, t.Config.EnsembleHorizon, false, nil)
	if err != nil {
		return nil, err
	}
	s := &SplitScores{}
	row := map[string]int{}
	for id, sp := range splitOf {
		if sp == split {
			s.IDs = append(s.IDs, id)
		}
	}
	sort.Strings(s.IDs)
	for i, id := range s.IDs {
		row[id] = i
		y, ok := labels[id]
		if !ok {
			y = math.NaN()
		}
		s.Labels = append(s.Labels, y)
	}
	s.Probs = make([][]float64, len(s.IDs))
	for i := range s.Probs {
		s.Probs[i] = make([]float64, len(t.Info.Horizons))
		for k := range s.Probs[i] {
			s.Probs[i][k] = math.NaN()
		}
	}
	for k, h := range t.Info.Horizons {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.Horizons = append(s.Horizons, h.Horizon)
		if err := scoreHorizon(dir, h, t.Models[k], t.Info.Policy.FleetEventShare, row, func(r int, p float64) { s.Probs[r][k] = p }); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// scoreHorizon scores with m the deployments of row in the features of
// horizon h.Horizon, passing each probability to set with the row; a
// window of a fleet event (features.FleetEvent at fleetShare, the
// policy's FleetEventShare) is not scored, as the policy skips it.
func scoreHorizon(dir string, h workdir.HorizonInfo, m *models.Model, fleetShare float64, row map[string]int, set func(r int, p float64)) error {
	name := workdir.FeaturesFile(h.Horizon)
	ft, err := workdir.ReadFeatures(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	cols := make([][]float64, len(h.Features))
	for f, col := range h.Features {
		if cols[f] = ft.Column(col); cols[f] == nil {
			return fmt.Errorf("%s: no column %q that the %d-minute model needs", name, col, h.Horizon)
		}
	}
	x := make([]float64, len(cols))
	skips := skipsLook(ft, fleetShare)
	for i, id := range ft.IDs {
		r, ok := row[id]
		if !ok || skips(i) {
			continue
		}
		for f := range cols {
			x[f] = cols[f][i]
		}
		set(r, m.Predict(x))
	}
	return nil
}

// skipsLook reports, for row i of ft (one horizon's features), whether a
// policy with that fleet_event_share skips the look: its window fell in a
// fleet event (features.FleetEvent on fleet_elevated_max_frac; never
// without the column).
func skipsLook(ft *workdir.Features, share float64) func(i int) bool {
	fleet := ft.Feature(features.FleetElevatedMaxFrac)
	return func(i int) bool { return fleet != nil && features.FleetEvent(fleet[i], share) }
}
