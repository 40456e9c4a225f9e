package simulate

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// TestDefaultChecksum pins the default simulation (10 services × 7 days,
// every other setting at its default): make demo and every figure measured
// on the default fleet depend on it. The history files' checksums were
// taken before the regime knobs existed; truth.csv's after the confounders
// rollback, hotfix, rolled_back, benign_signature, noise_incident and
// outage_incident were added (its other columns did not change). A change
// here moves the demo's numbers: review it, then update the constants.
func TestDefaultChecksum(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services, cfg.Days = 10, 7
	files := writeAll(t, cfg)
	want := map[string]string{
		"services.csv":         "d0395cade8fbe3934e9d2f3b84b48b57774e1e33812ed75e07b66ddb24056717",
		"deployments.csv":      "977ee15ac4c1839f35eb7536480b257475e1633d1fa44cbd1e1045f89fa1d775",
		"metrics.csv":          "fbca79c699d48dbfcb19c4ee22736ad5bfc6d1132a2e9a1b983c08db60a63cd6",
		"error_signatures.csv": "bd54c6b047a1c9044aac1e1bb55807f4737d47b66cfaedb6c701101cfa5d446f",
		"incidents.csv":        "87b092563d8290dff5b79725b0491b6c8bff5bcfec92242aacdb9d814baa5fa0",
		"annotations.csv":      "0abc2b8c222ea10b0405b88795ccd978e83a3ce7f57e6be41b0ad1dc83ace2ae",
		"truth.csv":            "abd71aee1f2a9a52ab31ec17005fa4973ba38e6dd13549dafafea0d88c7cdf90",
	}
	for name, w := range want {
		sum := sha256.Sum256(files[name])
		if got := hex.EncodeToString(sum[:]); got != w {
			t.Errorf("%s: sha256 %s, want %s: the default simulation changed", name, got, w)
		}
	}
}

func TestRegimesAreValidAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, r := range Regimes {
		cfg := DefaultConfig()
		r.Apply(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
		def := DefaultConfig()
		if cfg.Services != def.Services || cfg.Days != def.Days || cfg.Seed != def.Seed || !cfg.Start.Equal(def.Start) || cfg.Workers != def.Workers {
			t.Errorf("%s changes the fleet's size, seed or start", r.Name)
		}
		k := strings.Join(r.Knobs(), "; ")
		if k == "" || r.About == "" {
			t.Errorf("%s: knobs %q, about %q: both must be set", r.Name, k, r.About)
		}
		if other, dup := seen[k]; dup {
			t.Errorf("%s has the same knobs as %s", r.Name, other)
		}
		seen[k] = r.Name
		if _, err := LookupRegime(r.Name); err != nil {
			t.Error(err)
		}
	}
	if len(Regimes) < 6 {
		t.Errorf("%d regimes, the benchmark needs at least 6", len(Regimes))
	}
	if _, err := LookupRegime("nope"); err == nil || !strings.Contains(err.Error(), "baseline-mixed") {
		t.Errorf("unknown regime: error %v, want one listing the regimes", err)
	}
	r, _ := LookupRegime("mild-faults")
	if got := strings.Join(r.Knobs(), "; "); got != "fault_rate: 0.08; severity_min: 1.2; severity_max: 6" {
		t.Errorf("mild-faults knobs %q", got)
	}
}

func TestKnobValidation(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		wantErr string
	}{
		{"cadence range below its low end", func(c *Config) { c.DeploysPerDayMax = 2 }, "deploys_per_day_max"},
		{"unknown culture", func(c *Config) { c.Reactions = "chaotic" }, "reactions must be one of mixed"},
		{"low traffic share above 1", func(c *Config) { c.LowTrafficShare = 1.5 }, "low_traffic_share"},
		{"negative noise incidents", func(c *Config) { c.NoiseIncidentsPerDay = -1 }, "noise_incidents_per_day"},
		{"negative outage incidents", func(c *Config) { c.OutageIncidents = -1 }, "outage_incidents"},
		{"severity min without max", func(c *Config) { c.SeverityMin = 1.2 }, "severity_min and severity_max"},
		{"severity min of 1", func(c *Config) { c.SeverityMin, c.SeverityMax = 1, 3 }, "severity_min and severity_max"},
		{"no-canary share above 1", func(c *Config) { c.NoCanaryRate = 2 }, "no_canary_rate"},
		{"benign rate below 0", func(c *Config) { c.BenignSignatureRate = -0.1 }, "benign_signature_rate"},
		{"shift and burst shares above 1", func(c *Config) { c.ShiftRate, c.BurstRate = 0.6, 0.6 }, "shift_rate + burst_rate"},
		{"shift size of 1", func(c *Config) { c.ShiftMax = 1 }, "shift_min and shift_max"},
		{"unknown fault KPI", func(c *Config) { c.FaultKPIs = []string{"errors"} }, `unknown KPI "errors"`},
		{"saturation faults without KPIs", func(c *Config) { c.FaultKPIs = []string{KPISaturation} }, "set kpis too"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.set(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// regimeFleet simulates regime name on a small fleet.
func regimeFleet(t *testing.T, name string) *simulated {
	t.Helper()
	r, err := LookupRegime(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	r.Apply(&cfg)
	cfg.Services, cfg.Days, cfg.Seed = 12, 5, 3
	return simulateInto(t, cfg)
}

// has reports whether truth row x lists confounder c.
func has(x history.Truth, c string) bool {
	for _, y := range strings.Split(x.Confounders, ",") {
		if y == c {
			return true
		}
	}
	return false
}

// TestTruthConfounders checks the new confounders against the history they
// describe, on the mixed regime (every knob on).
func TestTruthConfounders(t *testing.T) {
	s := regimeFleet(t, "baseline-mixed")
	counts := map[string]int{}
	for i, d := range s.deps {
		tr := s.truth[d.ID]
		for _, c := range strings.Split(tr.Confounders, ",") {
			counts[c]++
		}
		if got, want := has(tr, ConfoundRollback), d.Kind == history.KindRollback; got != want {
			t.Errorf("%s: kind %s but rollback confounder %v", d.ID, d.Kind, got)
		}
		var next *history.Deployment
		for _, x := range s.deps[i+1:] {
			if streamOf(x) == streamOf(d) {
				next = &x
				break
			}
		}
		if got, want := has(tr, ConfoundRolledBack), next != nil && next.Kind == history.KindRollback; got != want {
			t.Errorf("%s: rolled_back %v, next deploy %+v", d.ID, got, next)
		}
		if got, want := has(tr, ConfoundNoCanary), d.FinishedAt.Equal(d.StartedAt); got != want {
			t.Errorf("%s: no_canary %v, rollout %v", d.ID, got, d.FinishedAt.Sub(d.StartedAt))
		}
		if has(tr, ConfoundNoCanary) {
			// The old version serves no minute from the start on.
			if prev, ok := s.previous(d); ok && prev.Version != d.Version {
				end := int64(math.MaxInt64)
				if next != nil {
					end = history.UnixMinute(next.StartedAt)
				}
				start := history.UnixMinute(d.StartedAt)
				if req, _, _, _ := s.window(streamOf(d), prev.Version, start, min(end, start+60)); req != 0 {
					t.Errorf("%s: no canary, but the old version %s served %g requests after the start", d.ID, prev.Version, req)
				}
			}
		}
		if tr.Faulty && (tr.Severity < 1.2 || tr.Severity > 25) {
			t.Errorf("%s: severity %v outside [1.2, 25]", d.ID, tr.Severity)
		}
		if has(tr, ConfoundBenignSignature) && (tr.Faulty || d.Kind == history.KindRollback) {
			t.Errorf("%s: benign signature on a faulty deploy or a rollback", d.ID)
		}
	}
	for _, c := range []string{ConfoundRollback, ConfoundRolledBack, ConfoundHotfix, ConfoundBenignSignature, ConfoundNoCanary, ConfoundOverlap, ConfoundLowTraffic} {
		if counts[c] == 0 {
			t.Errorf("no deploy with confounder %s: %v", c, counts)
		}
	}
	for c := range counts {
		known := c == ""
		for _, n := range ConfounderNames {
			known = known || c == n
		}
		if !known {
			t.Errorf("confounder %q is not in ConfounderNames", c)
		}
	}
	// Misattributed incidents name the deployment they blame.
	linked := map[string]bool{}
	incs, err := s.st.Incidents(t.Context(), history.Range{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range incs {
		linked[in.DeploymentID] = true
	}
	for id, tr := range s.truth {
		if has(tr, ConfoundMisattributedIncident) && !linked[id] {
			t.Errorf("%s: misattributed incident, but no incident names it", id)
		}
	}
}

// TestRegimeEffects checks that each regime produces the fleet it describes.
func TestRegimeEffects(t *testing.T) {
	def := simulateInto(t, func() Config { c := DefaultConfig(); c.Services, c.Days, c.Seed = 12, 5, 3; return c }())
	share := func(s *simulated, pred func(d history.Deployment, tr history.Truth) bool, of func(d history.Deployment, tr history.Truth) bool) float64 {
		k, n := 0, 0
		for _, d := range s.deps {
			tr := s.truth[d.ID]
			if of != nil && !of(d, tr) {
				continue
			}
			n++
			if pred(d, tr) {
				k++
			}
		}
		return float64(k) / float64(max(n, 1))
	}
	planned := func(d history.Deployment, tr history.Truth) bool {
		return !tr.Faulty && d.Kind == history.KindDeploy && !has(tr, ConfoundHotfix)
	}
	faulty := func(d history.Deployment, tr history.Truth) bool { return tr.Faulty && d.Kind == history.KindDeploy }
	conf := func(c string) func(history.Deployment, history.Truth) bool {
		return func(_ history.Deployment, tr history.Truth) bool { return has(tr, c) }
	}
	rolledBack := conf(ConfoundRolledBack)
	tests := []struct {
		regime string
		check  func(t *testing.T, s *simulated)
	}{
		{"high-cadence", func(t *testing.T, s *simulated) {
			if len(s.deps) < 3*len(def.deps)/2 {
				t.Errorf("%d deploys, default %d: want at least 1.5 times more", len(s.deps), len(def.deps))
			}
		}},
		{"rollback-heavy", func(t *testing.T, s *simulated) {
			if f, d := share(s, rolledBack, faulty), share(def, rolledBack, faulty); f < d+0.1 {
				t.Errorf("faulty deploys rolled back: %.2f, default %.2f", f, d)
			}
			if h := share(s, rolledBack, planned); h < 0.03 {
				t.Errorf("healthy deploys rolled back: %.3f, want about 0.06", h)
			}
		}},
		{"roll-forward", func(t *testing.T, s *simulated) {
			if f := share(s, rolledBack, faulty); f > 0.2 {
				t.Errorf("faulty deploys rolled back: %.2f, want few", f)
			}
			if h := share(s, conf(ConfoundHotfix), nil); h <= share(def, conf(ConfoundHotfix), nil) {
				t.Errorf("hotfix share %.3f not above the default's", h)
			}
		}},
		{"silent", func(t *testing.T, s *simulated) {
			if f := share(s, rolledBack, faulty); f > 0.3 {
				t.Errorf("faulty deploys rolled back: %.2f, want few", f)
			}
			if s.sum.Incidents >= def.sum.Incidents {
				t.Errorf("incidents %d, default %d: want fewer", s.sum.Incidents, def.sum.Incidents)
			}
		}},
		{"low-traffic", func(t *testing.T, s *simulated) {
			if l := share(s, conf(ConfoundLowTraffic), nil); l < 0.3 {
				t.Errorf("low-traffic deploys %.2f, want most", l)
			}
		}},
		{"noisy-outages", func(t *testing.T, s *simulated) {
			if s.sum.Outages == 0 || s.sum.Incidents < 2*def.sum.Incidents {
				t.Errorf("outages %d, incidents %d (default %d): want many more incidents", s.sum.Outages, s.sum.Incidents, def.sum.Incidents)
			}
			if s.sum.Confounders[ConfoundMisattributedIncident] == 0 || s.sum.Confounders[ConfoundOutageIncident] == 0 {
				t.Errorf("confounders %v: want misattributed and outage incidents", s.sum.Confounders)
			}
		}},
		{"benign-signatures", func(t *testing.T, s *simulated) {
			if b := share(s, conf(ConfoundBenignSignature), planned); b < 0.35 || b > 0.65 {
				t.Errorf("benign signatures on %.2f of healthy planned deploys, want about 0.5", b)
			}
		}},
		{"mild-faults", func(t *testing.T, s *simulated) {
			mild := 0
			for _, tr := range s.truth {
				if tr.Faulty && (tr.Severity < 1.2 || tr.Severity > 6) {
					t.Errorf("%s: severity %v outside [1.2, 6]", tr.DeploymentID, tr.Severity)
				}
				if tr.Faulty && tr.Severity < 1.5 {
					mild++
				}
			}
			if mild == 0 {
				t.Error("no fault below 1.5×")
			}
		}},
		{"no-canary", func(t *testing.T, s *simulated) {
			if n := share(s, conf(ConfoundNoCanary), nil); n < 0.8 {
				t.Errorf("no-canary deploys %.2f, want about 0.9", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.regime, func(t *testing.T) { tc.check(t, regimeFleet(t, tc.regime)) })
	}
}

// TestCadencePerStream: with a cadence range, streams differ widely.
func TestCadencePerStream(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services, cfg.Days, cfg.Seed = 12, 7, 5
	cfg.DeploysPerDay, cfg.DeploysPerDayMax = 1, 10
	s := simulateInto(t, cfg)
	per := map[history.Stream]int{}
	for _, d := range s.deps {
		per[streamOf(d)]++
	}
	lo, hi := math.MaxInt, 0
	for _, n := range per {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi < 3*max(lo, 1) {
		t.Errorf("deploys per stream from %d to %d: want a spread of at least 3×", lo, hi)
	}
}

// TestOfficeHours: with office_hours_share, that share of services has
// weekday traffic lifted 2 to 4 times within office hours and nothing else
// moved: a weekday noon over a weekday night is the weekend's ratio times
// the lift; without the knob every service's traffic is as before.
func TestOfficeHours(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = 200
	plain := make([]*service, cfg.Services)
	for i := range plain {
		plain[i] = newService(&cfg, i)
	}
	cfg.OfficeHoursShare = 0.5
	monday := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	at := func(day, hour int) int64 { return monday.Add(time.Duration(24*day+hour)*time.Hour).Unix() / 60 }
	office := 0
	for i := range plain {
		s := newService(&cfg, i)
		ratio := func(day int) float64 { return s.rate(at(day, 12)) / s.rate(at(day, 22)) }
		plainRatio := plain[i].rate(at(0, 12)) / plain[i].rate(at(0, 22))
		switch lift := ratio(0)/ratio(5) - 1; { // Monday against Saturday
		case s.office == 0:
			if math.Abs(lift) > 1e-9 || s.rate(at(0, 12)) != plain[i].rate(at(0, 12)) {
				t.Errorf("service %d without office hours: traffic changed (lift %v)", i, lift)
			}
		default:
			office++
			if math.Abs(lift-s.office) > 1e-9 || lift < 1 || lift > 3 {
				t.Errorf("service %d: weekday lift %v, want its office lift %v in [1, 3]", i, lift, s.office)
			}
			if math.Abs(ratio(5)-plainRatio) > 1e-9 {
				t.Errorf("service %d: its shape outside office hours changed", i)
			}
		}
	}
	if office < 70 || office > 130 {
		t.Errorf("%d of %d services with office hours, want about half", office, cfg.Services)
	}
}
