package evaluation

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestFleetEventLooksSkipped: a model contender whose policy has
// fleet_event_share skips the looks whose window was a fleet event — here
// every 10-minute window — so each deploy is decided by its later looks, as
// the detector decides; without the setting the decisions are the weak
// contender's.
func TestFleetEventLooksSkipped(t *testing.T) {
	dir := writeFixture(t)
	path := filepath.Join(dir, "features_h10.parquet")
	rows, err := parquet.ReadFile[fxFeatureRow](path)
	if err != nil {
		t.Fatal(err)
	}
	type fleetRow struct {
		fxFeatureRow
		FleetMax float64 `parquet:"fleet_elevated_max_frac"`
	}
	out := make([]fleetRow, len(rows))
	for i, r := range rows {
		out[i] = fleetRow{r, 0.5}
	}
	writeParquet(t, path, out)
	for _, share := range []float64{0.1, 0} {
		t.Run(fmt.Sprint(share), func(t *testing.T) {
			prod := func(ctx context.Context, in *Inputs) (*ModelSet, error) {
				texts := map[int][]byte{10: []byte(fxWeakModel), 20: []byte(fxWeakModel), 60: []byte(fxWeakModel)}
				ms, err := modelSetFromTexts("registered", "registry:faultline@production", "7", texts, fxWeakThresholds, nil)
				if ms != nil {
					ms.Policy.FleetEventShare = share
				}
				return ms, err
			}
			rep, err := Run(context.Background(), Options{Workdir: dir, Config: DefaultConfig(), Production: prod})
			if err != nil {
				t.Fatal(err)
			}
			p := rep.Contender(ContenderProduction)
			at10, changed := 0, 0
			for i, id := range rep.ids {
				dp, _ := p.Decision(id)
				want := expectedDetectedAt(ContenderWeak, fxIndex(t, id))
				if share > 0 && want == 10 {
					changed++
					want = -1
					for _, h := range []int{20, 60} {
						if fxHasRow(fxIndex(t, id), h) && fxWeakP(fxErr(fxIndex(t, id), h)) >= fxWeakThresholds[h] {
							want = h
							break
						}
					}
				}
				if dp.DetectedAt == 10 {
					at10++
				}
				if dp.DetectedAt != want || dp.Flag[10] && share > 0 {
					t.Errorf("deploy %d (%s): detected at %d (flag at 10: %v), want %d", i, id, dp.DetectedAt, dp.Flag[10], want)
				}
			}
			if share > 0 && (changed == 0 || at10 != 0) {
				t.Errorf("%d deploys flagged at 10 min in a fleet event; %d would have been without the setting", at10, changed)
			}
		})
	}
}

// fxIndex is the fixture index of deploy id (fxID's inverse).
func fxIndex(t *testing.T, id string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(id, "d%03d", &i); err != nil {
		t.Fatalf("deploy id %q: %v", id, err)
	}
	return i
}
