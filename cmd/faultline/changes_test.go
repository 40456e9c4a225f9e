package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// writeChanges writes, into dir, a history as public change data have it
// once mapped into the import format: one aggregate error series per
// service at a constant request volume (real-valued counts, Prometheus-style
// timestamps with seconds), four days before one change each and two hours
// after, no canary, no rollback, no incident, no fingerprint. Error rates
// are 0.2–0.5 % with a daily cycle and autocorrelated noise. The changes of
// the odd services are faulty: the error rate rises by 40 % for good — a
// rise of at most 0.002 errors per request, below the impact check's
// absolute materiality. Half of the healthy ones restart with a blip of
// two minutes at twice the rate. It returns the faulty changes by id.
func writeChanges(t *testing.T, dir string, services int, seed uint64) map[string]bool {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	deps, err := os.Create(filepath.Join(dir, "deployments.csv"))
	if err != nil {
		t.Fatal(err)
	}
	met, err := os.Create(filepath.Join(dir, "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	dw, mw := csv.NewWriter(deps), csv.NewWriter(met)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(dw.Write([]string{"deployment_id", "service", "environment", "version", "started_at", "finished_at"}))
	check(mw.Write([]string{"service", "environment", "minute", "requests", "errors"}))
	const before, after, requests = 4 * 1440, 120, 20000.0
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	faulty := map[string]bool{}
	for i := 0; i < services; i++ {
		svc, id := fmt.Sprintf("svc-%02d", i), fmt.Sprintf("chg-%02d", i)
		change := t0.Add(time.Duration(before+97*i) * time.Minute)
		start := change.Add(-before * time.Minute)
		rate := 0.002 + 0.003*rng.Float64()
		phase := 2 * math.Pi * rng.Float64()
		faulty[id] = i%2 == 1
		x := 0.0
		for m := 0; m < before+after; m++ {
			at := start.Add(time.Duration(m) * time.Minute)
			tod := float64(at.Hour()*60+at.Minute()) / 1440 * 2 * math.Pi
			x = 0.7*x + rng.NormFloat64()*0.04
			r := rate * (1 + 0.25*math.Sin(tod+phase)) * math.Exp(x)
			switch {
			case m >= before && faulty[id]:
				r *= 1.4
			case m >= before && m < before+2 && i%4 == 0:
				r *= 2
			}
			stamp := at.Add(time.Duration(17+i) * time.Second).Format(time.RFC3339)
			check(mw.Write([]string{svc, "prod", stamp, strconv.FormatFloat(requests, 'g', -1, 64), strconv.FormatFloat(requests*r, 'f', 4, 64)}))
		}
		s := change.Add(41 * time.Second).Format(time.RFC3339)
		check(dw.Write([]string{id, svc, "prod", "v2", s, s}))
	}
	for _, w := range []*csv.Writer{dw, mw} {
		w.Flush()
		check(w.Error())
	}
	check(deps.Close())
	check(met.Close())
	return faulty
}

// Changes as teams without canaries have them, through import, the nightly
// run and predict: the run succeeds and writes its report whatever the
// labels could judge, and without a production model the statistical
// checks flag faulty changes whose error rate rose by 40 % — a rise below
// the absolute materiality floor, material by min_error_rise — and no
// healthy one, restart blips included.
func TestChangesWithoutCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("imports and runs the pipeline; skipped with -short")
	}
	dir := t.TempDir()
	hist := filepath.Join(dir, "changes")
	if err := os.Mkdir(hist, 0o755); err != nil {
		t.Fatal(err)
	}
	faulty := writeChanges(t, hist, 24, 3)
	h := "--home=" + filepath.Join(dir, "home")
	mustCLI(t, "import", h, "--from", hist)
	mustCLI(t, "run", h, "--json")

	pred := filepath.Join(dir, "pred.csv")
	// Whatever the run promoted, the statistical checks judge the changes
	// when no model holds production: judged here on a store without one.
	h2 := "--home=" + filepath.Join(dir, "fallback")
	mustCLI(t, "import", h2, "--from", hist)
	mustCLI(t, "predict", h2, "--model", "production", "--out", pred)
	recs := readCSV(t, pred)
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var tp, fp, n int
	for _, r := range recs[1:] {
		id, v, src := r[col["deployment_id"]], r[col["verdict"]], r[col["model_version"]]
		if src != "statistical-checks" {
			t.Fatalf("%s judged by %q, want the statistical checks", id, src)
		}
		if faulty[id] {
			n++
		}
		if v != "faulty" {
			continue
		}
		if faulty[id] {
			tp++
		} else {
			fp++
			t.Errorf("healthy change %s flagged", id)
		}
	}
	t.Logf("statistical checks: %d of %d faulty changes flagged, %d healthy", tp, n, fp)
	if len(recs)-1 != len(faulty) || tp < n/3 {
		t.Errorf("%d rows, %d of %d faulty changes flagged: want every change and at least a third of the faulty ones", len(recs)-1, tp, n)
	}
}
