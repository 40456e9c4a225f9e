package labeling

// FnRollback names the rollback function.
const FnRollback = "rollback"

// RollbackLF is the rollback function and its settings (labeling.rollback):
// a deployment votes faulty when its successor — the next deployment of
// another version on the same service and environment — is a rollback
// started within WithinHours. Rollback deployments themselves abstain. A
// deployment is a rollback when its kind, as stored by the history, says so.
type RollbackLF struct {
	Enabled     bool    `yaml:"enabled" json:"enabled"`           // default true
	WithinHours float64 `yaml:"within_hours" json:"within_hours"` // default 48
}

func (RollbackLF) defaults() Function { return RollbackLF{Enabled: true, WithinHours: 48} }

// Name implements Function.
func (RollbackLF) Name() string { return FnRollback }

// Description implements Function.
func (RollbackLF) Description() string {
	return "the next deployment of another version rolled back (explicit kind or return to an earlier version) within rollback.within_hours"
}

// Assumption implements Function.
func (RollbackLF) Assumption() string {
	return "a version rolled back soon after its deploy was rolled back because it was faulty, and the rollback itself is not"
}

// Validate implements Function.
func (f RollbackLF) Validate() error { return positive("within_hours", f.WithinHours) }

func (f RollbackLF) enabled() bool    { return f.Enabled }
func (RollbackLF) needs() needs       { return needs{} }
func (RollbackLF) dependence() string { return dependenceReplacement }

func (f RollbackLF) vote(d *deploy) int8 {
	succ, ok := d.successor()
	if isRollback(d.Deployment) || !ok || !isRollback(succ) {
		return abstain
	}
	if succ.StartedAt.Sub(d.StartedAt) <= hours(f.WithinHours) {
		return faulty
	}
	return abstain
}
