package simulate

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
)

// Traffic patterns of services.
const (
	patternSteady   = "steady"
	patternSeasonal = "seasonal"
	patternLow      = "low_traffic"
	patternBursty   = "bursty"
)

// Fault shapes (history.Truth.Shape).
const (
	ShapeStep         = "step"
	ShapeRamp         = "ramp"
	ShapeDelayed      = "delayed"
	ShapeNewSignature = "new_signature"
	ShapeLatency      = "latency"
)

// Shapes of KPI faults (Config.ShiftRate, Config.BurstRate): the fault
// shows in one KPI (history.Truth.KPI), moving it up or down
// (history.Truth.Direction).
const (
	ShapeShift = "shift" // a moderate, sustained shift from the onset on
	ShapeBurst = "burst" // a large burst of 5–15 minutes
)

// Shapes lists the fault shapes of the default fleet.
var Shapes = []string{ShapeStep, ShapeRamp, ShapeDelayed, ShapeNewSignature, ShapeLatency}

// KPIShapes lists the shapes of KPI faults, off by default.
var KPIShapes = []string{ShapeShift, ShapeBurst}

// Confounders of a deployment (history.Truth.Confounders, joined by ','):
// what could mislead a detector or a labeling function about it.
const (
	ConfoundBlip       = "blip"        // a restart blip at the rollout
	ConfoundOutage     = "outage"      // a fleet-wide outage touches the service in the first hour
	ConfoundLowTraffic = "low_traffic" // the service has low traffic
	ConfoundSeasonal   = "seasonal"    // the service has a daily cycle
	ConfoundBursty     = "bursty"      // a traffic burst starts from 20 min before to 60 min after the start
	ConfoundOverlap    = "overlap"     // the next deploy of the stream starts within 60 min
	ConfoundRollback   = "rollback"    // the deployment rolls back to the previous version
	ConfoundHotfix     = "hotfix"      // the deployment is a hotfix of a faulty version
	ConfoundRolledBack = "rolled_back" // the next deployment of the stream rolls this one back
	// ConfoundBenignSignature: a new, harmless error fingerprint comes with the version.
	ConfoundBenignSignature = "benign_signature"
	// ConfoundNoCanary: all traffic switched at once (Config.NoCanaryRate).
	ConfoundNoCanary = "no_canary"
	// ConfoundNoiseIncident: an incident unrelated to any deploy opened on
	// the service, from the stream, within incidentWindow of the start.
	ConfoundNoiseIncident = "noise_incident"
	// ConfoundMisattributedIncident: an unrelated incident was linked to
	// this deployment (Config.NoiseIncidentLinkRate).
	ConfoundMisattributedIncident = "misattributed_incident"
	// ConfoundOutageIncident: an incident of a fleet-wide outage opened on
	// the stream within incidentWindow of the start.
	ConfoundOutageIncident = "outage_incident"
)

// ConfounderNames lists the confounders in the order they appear in truth.
var ConfounderNames = []string{ConfoundBlip, ConfoundOutage, ConfoundLowTraffic, ConfoundSeasonal, ConfoundBursty,
	ConfoundOverlap, ConfoundRollback, ConfoundHotfix, ConfoundRolledBack, ConfoundBenignSignature, ConfoundNoCanary,
	ConfoundOutageIncident, ConfoundNoiseIncident, ConfoundMisattributedIncident}

// incidentWindow is how long after a deploy's start an incident counts as
// a confounder (minutes): the labeling incident function's default window.
const incidentWindow = 120

var serviceWords = []string{
	"checkout", "payments", "cart", "search", "catalog", "inventory", "pricing", "auth", "users", "profile",
	"orders", "shipping", "billing", "invoices", "notifications", "email", "sms", "recommendations", "reviews", "ratings",
	"gateway", "frontend", "images", "media", "upload", "export", "reports", "analytics", "ledger", "fraud",
	"risk", "tax", "coupons", "loyalty", "wishlist", "sessions", "feature-flags", "config", "geo", "maps",
}

var teams = []string{"commerce", "identity", "platform", "growth", "data", "fintech"}

var teamAuthors = map[string][]string{
	"commerce": {"alice", "bruno", "chen", "dara", "emil"},
	"identity": {"farah", "goran", "hana", "ivan"},
	"platform": {"jonas", "kiri", "lena", "mateo", "nadia", "omar"},
	"growth":   {"priya", "quinn", "rosa"},
	"data":     {"sven", "tara", "umar", "vera"},
	"fintech":  {"wen", "xavi", "yara", "zoe"},
}

type fingerprint struct {
	id, errorType, endpoint string
	status                  int32
}

// service is one simulated service and its traffic, error and latency profile.
type service struct {
	idx     int
	name    string
	team    string
	tier    string
	pattern string
	baseRPM float64 // mean requests per minute at the seasonal mean
	diurnal float64 // amplitude of the daily cycle
	weekend float64 // traffic factor on Saturdays and Sundays
	peakH   float64 // hour of the daily peak, UTC
	p0      float64 // base error rate
	shape   float64 // gamma shape of the error overdispersion (smaller: noisier)
	p50     float64 // latency, ms
	r95     float64 // p95/p50
	r99     float64 // p99/p95
	bg      []fingerprint
	bgW     []float64 // cumulative weights of bg
	restart fingerprint
	upstrm  fingerprint

	// office is the weekday traffic lift from officeFrom to officeTo hours
	// (UTC), 0 for a service without office hours.
	office, officeFrom, officeTo float64
}

var endpoints = []string{"/", "/api/v1/items", "/api/v1/orders", "/api/v2/search", "/login", "/health", "/api/v1/users", "/graphql"}
var errorTypes = []struct {
	t      string
	status int32
}{{"TimeoutError", 504}, {"NullPointerException", 500}, {"ValidationError", 400}, {"ConnectionReset", 502}, {"DeadlineExceeded", 504}, {"KeyError", 500}, {"RateLimited", 429}, {"SQLException", 500}}

func newService(cfg *Config, idx int) *service {
	r := newRNG(cfg.Seed, fmt.Sprintf("service/%d", idx))
	name := serviceWords[idx%len(serviceWords)]
	if idx >= len(serviceWords) {
		name = fmt.Sprintf("%s-%d", name, idx/len(serviceWords)+1)
	}
	s := &service{idx: idx, name: name, team: pick(r, teams), peakH: r.uniform(13, 19)}
	switch u := r.Float64(); {
	case u < 0.15:
		s.tier = "critical"
	case u < 0.85:
		s.tier = "standard"
	default:
		s.tier = "batch"
	}
	// Steady, seasonal, low-traffic and bursty services in the proportions
	// 40:30:15:15, or with the low-traffic share set and the others
	// keeping their proportions.
	t1, t2, t3 := 0.40, 0.70, 0.85
	if l := cfg.LowTrafficShare; l != defaultLowTrafficShare {
		k := (1 - l) / (1 - defaultLowTrafficShare)
		t1, t2 = 0.40*k, 0.70*k
		t3 = t2 + l
	}
	switch u := r.Float64(); {
	case u < t1:
		s.pattern, s.baseRPM, s.diurnal, s.weekend = patternSteady, r.logUniform(100, 3000), r.uniform(0, 0.1), r.uniform(0.9, 1)
	case u < t2:
		s.pattern, s.baseRPM, s.diurnal, s.weekend = patternSeasonal, r.logUniform(150, 4000), r.uniform(0.4, 0.85), r.uniform(0.4, 0.8)
	case u < t3:
		s.pattern, s.baseRPM, s.diurnal, s.weekend = patternLow, r.uniform(0.5, 6), r.uniform(0.2, 0.6), r.uniform(0.3, 0.8)
	default:
		s.pattern, s.baseRPM, s.diurnal, s.weekend = patternBursty, r.logUniform(40, 600), r.uniform(0.1, 0.5), r.uniform(0.6, 1)
	}
	if cfg.OfficeHoursShare > 0 {
		o := newRNG(cfg.Seed, fmt.Sprintf("office/%d", idx))
		if o.Float64() < cfg.OfficeHoursShare {
			s.office, s.officeFrom, s.officeTo = o.uniform(1, 3), o.uniform(7, 9), o.uniform(17, 19)
		}
	}
	s.p0 = r.logUniform(0.0002, 0.006)
	s.shape = r.uniform(1.5, 12)
	s.p50 = r.logUniform(4, 150)
	s.r95 = r.uniform(2, 4)
	s.r99 = r.uniform(1.3, 2.5)
	n := 1 + r.IntN(4)
	var cum float64
	for i := 0; i < n; i++ {
		et := pick(r, errorTypes)
		s.bg = append(s.bg, fingerprint{id: s.name + "-" + r.hex(8), errorType: et.t, endpoint: pick(r, endpoints), status: et.status})
		cum += 1 / math.Pow(float64(i+1), 2) // Zipf-like
		s.bgW = append(s.bgW, cum)
	}
	for i := range s.bgW {
		s.bgW[i] /= cum
	}
	s.restart = fingerprint{id: s.name + "-" + r.hex(8), errorType: "ConnectionReset", endpoint: "/", status: 503}
	s.upstrm = fingerprint{id: s.name + "-" + r.hex(8), errorType: "UpstreamTimeout", endpoint: pick(r, endpoints), status: 504}
	return s
}

// rate returns the expected requests per minute at Unix minute m, before
// bursts and the environment's scale.
func (s *service) rate(m int64) float64 {
	t := time.Unix(m*60, 0).UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60
	f := 1 + s.diurnal*math.Cos(2*math.Pi*(h-s.peakH)/24)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f *= s.weekend
	} else if s.office > 0 && h >= s.officeFrom && h < s.officeTo {
		f *= 1 + s.office
	}
	return s.baseRPM * f
}

// outage is a fleet-wide dependency outage in one environment.
type outage struct {
	env       string
	idx       int
	from, to  int64   // Unix minutes [from, to)
	share     float64 // share of services affected
	errAdd    float64 // absolute error rate added
	latFactor float64
}

// affects reports whether service idx suffers the outage (deterministic).
func (o *outage) affects(seed int64, idx int) bool {
	return newRNG(seed, fmt.Sprintf("outage/%s/%d/%d", o.env, o.idx, idx)).Float64() < o.share
}

func makeOutages(cfg *Config) []*outage {
	var out []*outage
	start := history.UnixMinute(cfg.Start)
	total := int64(cfg.Days) * 1440
	for _, env := range cfg.Environments {
		r := newRNG(cfg.Seed, "outages/"+env)
		n := int(r.poisson(cfg.OutagesPerDay * float64(cfg.Days)))
		for i := 0; i < n; i++ {
			from := start + r.Int64N(total)
			out = append(out, &outage{
				env: env, idx: i, from: from, to: from + 5 + r.Int64N(40),
				share: r.uniform(0.3, 0.8), errAdd: r.logUniform(0.01, 0.15), latFactor: r.uniform(1.3, 3),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].env != out[j].env {
			return out[i].env < out[j].env
		}
		return out[i].from < out[j].from
	})
	return out
}
