package extract

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// beforeAfterFleet is a small simulated fleet as most teams have it: one
// aggregate series per service, big-bang deploys, four declared KPIs of
// every kind and direction, faults that shift one KPI.
func beforeAfterFleet(t *testing.T) simulate.Config {
	t.Helper()
	c := simulate.DefaultConfig()
	reg, err := simulate.LookupRegime("kpi-shifts")
	if err != nil {
		t.Fatal(err)
	}
	reg.Apply(&c)
	c.Services, c.Days, c.Environments, c.Seed = 4, 6, []string{"prod"}, 3
	return c
}

// TestGoldenBeforeAfter pins the before/after columns of a simulated
// aggregate fleet with KPIs, extracted through a store (so the KPI
// declarations and values are read as in production). After an intended
// change run: go test ./features/extract -run GoldenBeforeAfter -update
func TestGoldenBeforeAfter(t *testing.T) {
	ctx := context.Background()
	st := simulated(t, beforeAfterFleet(t))
	cfg := features.DefaultConfig()
	cfg.BlockDays = 2
	res, err := Extract(ctx, st, Options{Config: cfg, Workers: 2}, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := st.KPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inSum := inputDigest(t, st) + fmt.Sprintf("kpi_declarations=%d\n", len(ks))
	inPath := filepath.Join("testdata", "golden_ba_input.txt")
	if *update {
		if err := os.WriteFile(inPath, []byte(inSum), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(inPath); err != nil || string(want) != inSum {
		t.Fatalf("the simulated fleet changed (%q vs %q in %s); if intended, regenerate with -update", inSum, want, inPath)
	}
	first := features.BAPseudoPoints
	for _, h := range []int{10, 60} {
		tab := res.Features[h]
		var b bytes.Buffer
		b.WriteString("deployment_id," + strings.Join(tab.Columns[first:], ",") + "\n")
		var judged, fired, withKPIs int
		for i, id := range tab.IDs {
			v := tab.Rows[i]
			b.WriteString(id)
			for _, x := range v[first:] {
				b.WriteByte(',')
				b.WriteString(strconv.FormatFloat(x, 'g', 10, 64))
			}
			b.WriteByte('\n')
			if !math.IsNaN(v[features.BAPass]) {
				judged++
				fired += int(v[features.BAPass])
			}
			if v[features.BAKPIs] == 4 {
				withKPIs++
			}
		}
		// What the fleet must show whatever the golden says: the checks
		// judge the deploys with three days of history, with the four
		// declared KPIs, and some fire while most do not.
		if judged < len(tab.IDs)/3 || withKPIs < judged || fired == 0 || fired > judged/2 {
			t.Errorf("h=%d: %d rows, %d judged, %d with the 4 KPIs, %d fired", h, len(tab.IDs), judged, withKPIs, fired)
		}
		path := filepath.Join("testdata", fmt.Sprintf("golden_ba_h%d.csv", h))
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got := b.Bytes(); !bytes.Equal(got, want) {
			gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
			for i := 0; i < min(len(gl), len(wl)); i++ {
				if gl[i] != wl[i] {
					t.Fatalf("h=%d: %s differs at line %d:\n got  %.300s\n want %.300s", h, path, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("h=%d: %s: %d lines, want %d", h, path, len(gl), len(wl))
		}
	}
	var _ history.KPIReader = st
}
