package quality

import (
	"context"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/internal/altsim"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/simulate"
)

// Generators of the fleets (Regime.Generator).
const (
	GeneratorSimulate = "simulate" // faultline simulate (internal/simulate)
	GeneratorAltsim   = "altsim"   // the independent generator (internal/altsim)
)

// Regime is one kind of fleet the benchmark scores: a regime of faultline
// simulate, or one of the independent generator's, which is not the
// simulator the detector was developed on.
type Regime struct {
	Name string
	// About says in a sentence what the regime stresses.
	About string
	// Generator is GeneratorSimulate or GeneratorAltsim.
	Generator string
	// Knobs are its settings: for simulate those that differ from
	// simulate.DefaultConfig, as YAML keys of section simulate.
	Knobs []string
	sim   simulate.Regime
	alt   altsim.Config
}

// altRegimes are the independent generator's regimes, after simulate's.
var altRegimes = []Regime{
	{Name: "alt-canary", Generator: GeneratorAltsim, Knobs: []string{"aggregate: false"},
		About: "another generator (internal/altsim), not the one the detector was developed on: overdispersed " +
			"traffic and errors, restart transients that decay linearly, slow leaks, partial and intermittent " +
			"failures, outages local to one stream, operators who react more the worse the fault; per-version " +
			"series, canary rollouts on 70% of deploys"},
	{Name: "alt-aggregate", Generator: GeneratorAltsim, Knobs: []string{"aggregate: true"}, alt: altsim.Config{Aggregate: true},
		About: "the same generator as one real-valued aggregate series per service, Prometheus-style timestamps " +
			"with seconds, big-bang deploys and no error signatures"},
	{Name: "alt-kpis", Generator: GeneratorAltsim, Knobs: []string{"aggregate: true", "kpis: true"}, alt: altsim.Config{Aggregate: true, KPIs: true},
		About: "alt-aggregate with four declared KPIs per stream (availability, requests per second, p95 latency, " +
			"CPU), a third of the faults a sustained shift of CPU (up 10 to 35 points) or of requests (down 10 to 40%)"},
}

// Regimes returns every regime: simulate's (simulate.Regimes, in order),
// then the independent generator's.
func Regimes() []Regime {
	var out []Regime
	for _, r := range simulate.Regimes {
		out = append(out, Regime{Name: r.Name, About: r.About, Generator: GeneratorSimulate, Knobs: r.Knobs(), sim: r})
	}
	return append(out, altRegimes...)
}

// RegimeNames returns the names of Regimes, in order.
func RegimeNames() []string {
	rs := Regimes()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// LookupRegime returns the regime called name, or an error listing them.
func LookupRegime(name string) (Regime, error) {
	for _, r := range Regimes() {
		if r.Name == name {
			return r, nil
		}
	}
	return Regime{}, fmt.Errorf("unknown regime %q: want one of %s", name, strings.Join(RegimeNames(), ", "))
}

// generated counts what a generator wrote.
type generated struct{ deployments, faulty int64 }

// generate writes the regime's fleet of the given size and seed, with its
// truth, into st (altsim.Store and simulate.Store are the same methods).
func (r Regime) generate(ctx context.Context, st simulate.Store, services, days int, seed int64, p progress.Func) (generated, error) {
	if r.Generator == GeneratorAltsim {
		cfg := r.alt
		cfg.Services, cfg.Days, cfg.Seed = services, days, seed
		sum, err := altsim.Into(ctx, cfg, st)
		return generated{sum.Deployments, sum.Faulty}, err
	}
	cfg := simulate.DefaultConfig()
	r.sim.Apply(&cfg)
	cfg.Services, cfg.Days, cfg.Seed = services, days, seed
	sum, _, err := simulate.Into(ctx, cfg, st, p)
	return generated{sum.Deployments, sum.Faulty}, err
}
