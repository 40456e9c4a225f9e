package train

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/workdir"
)

// fleetFeatures is testFeatures with the column of features.FleetEvent.
type fleetFeatures struct {
	testFeatures
	FleetMax float64 `parquet:"fleet_elevated_max_frac"`
}

// TestRunSkipsFleetEventLooks: the policy records train.fleet_event_share,
// and a look whose window was a fleet event is left out of the choice and
// of what the policy is measured on (no probability, as a look without a
// score), as the detector will skip it.
func TestRunSkipsFleetEventLooks(t *testing.T) {
	// event reports whether deploy id is in a fleet event at horizon h:
	// every third deploy at 10 and 20 minutes.
	event := func(id string, h int) bool {
		n, _ := strconv.Atoi(id[1:])
		return n%3 == 0 && h < 60
	}
	looks, events10 := map[float64]int{}, 0
	for _, share := range []float64{0.1, 0} {
		dir := t.TempDir()
		writeFixture(t, dir, 1500)
		for _, h := range []int{10, 20, 60} {
			path := filepath.Join(dir, workdir.FeaturesFile(h))
			rows, err := parquet.ReadFile[testFeatures](path)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]fleetFeatures, len(rows))
			for i, r := range rows {
				out[i] = fleetFeatures{testFeatures: r, FleetMax: 0.02}
				if event(r.DeploymentID, h) {
					out[i].FleetMax = 0.4
				}
			}
			if err := parquet.WriteFile(path, out); err != nil {
				t.Fatal(err)
			}
		}
		cfg := fixtureConfig()
		cfg.FleetEventShare = share
		info, err := Run(context.Background(), cfg, RunOptions{Workdir: dir, Now: fixtureNow})
		if err != nil {
			t.Fatal(err)
		}
		if info.Policy.FleetEventShare != share {
			t.Errorf("share %v: the policy records fleet_event_share %v", share, info.Policy.FleetEventShare)
		}
		s, err := ScoreSplit(context.Background(), dir, LabelsWeak, workdir.SplitValid)
		if err != nil {
			t.Fatal(err)
		}
		skipped, events := 0, 0
		for d, id := range s.IDs {
			for k, h := range s.Horizons {
				if !event(id, h) {
					continue
				}
				events++
				if math.IsNaN(s.Probs[d][k]) {
					skipped++
				}
			}
		}
		if want := map[bool]int{true: events, false: 0}[share > 0]; events == 0 || skipped != want {
			t.Errorf("share %v: %d of %d fleet-event looks of the validation split unscored, want %d", share, skipped, events, want)
		}
		// The 10-minute look of the policy as measured on the validation
		// split (train.json's policy_valid) skips them too.
		looks[share] = info.PolicyValid.ByHorizon[0].Looks
		if share == 0 {
			for d, id := range s.IDs {
				if event(id, 10) && !math.IsNaN(s.Probs[d][0]) {
					events10++
				}
			}
		}
	}
	if events10 == 0 || looks[0]-looks[0.1] != events10 {
		t.Errorf("policy_valid looks at 10 min: %d with the share, %d without; want %d fewer (the fleet-event deploys)", looks[0.1], looks[0], events10)
	}
}
