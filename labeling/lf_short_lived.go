package labeling

// FnShortLived names the short-lived-version function.
const FnShortLived = "short_lived"

// ShortLivedLF is the short-lived-version function and its settings
// (labeling.short_lived): a deployment votes faulty when it is replaced
// within WithinHours by a deployment of another version that is not a
// rollback (a fix rolled forward). Rollback deployments themselves abstain.
//
// It is disabled by default: on simulated fleets of every reaction culture
// but fix-forward, a version replaced soon by another was no more often
// faulty than any version (docs/labeling.md), so its votes carry no
// evidence, while they fall on a large share of healthy deployments. Enable
// it where operators fix forward and planned deploys are rare.
type ShortLivedLF struct {
	Enabled     bool    `yaml:"enabled" json:"enabled"`           // default false
	WithinHours float64 `yaml:"within_hours" json:"within_hours"` // default 2
}

func (ShortLivedLF) defaults() Function { return ShortLivedLF{Enabled: false, WithinHours: 2} }

// Name implements Function.
func (ShortLivedLF) Name() string { return FnShortLived }

// Description implements Function.
func (ShortLivedLF) Description() string {
	return "replaced within short_lived.within_hours by a deployment of another version that is not a rollback"
}

// Assumption implements Function.
func (ShortLivedLF) Assumption() string {
	return "a version replaced by a new one within hours was replaced because it was faulty (a fix rolled forward); " +
		"healthy versions are also replaced quickly, so the label model must learn how little this says alone"
}

// Validate implements Function.
func (f ShortLivedLF) Validate() error { return positive("within_hours", f.WithinHours) }

func (f ShortLivedLF) enabled() bool    { return f.Enabled }
func (ShortLivedLF) needs() needs       { return needs{} }
func (ShortLivedLF) dependence() string { return dependenceReplacement }

func (f ShortLivedLF) vote(d *deploy) int8 {
	succ, ok := d.successor()
	if isRollback(d.Deployment) || !ok || isRollback(succ) {
		return abstain
	}
	if succ.StartedAt.Sub(d.StartedAt) <= hours(f.WithinHours) {
		return faulty
	}
	return abstain
}
