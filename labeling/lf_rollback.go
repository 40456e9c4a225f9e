package labeling

// FnRollback names the rollback function.
const FnRollback = "rollback"

// RollbackLF is the rollback function and its settings (labeling.rollback):
// a deployment votes faulty when its successor — the next deployment of
// another version on the same service and environment — is a rollback
// started within WithinHours. Rollback deployments themselves abstain. A
// deployment is a rollback when its kind, as stored by the history, says so.
//
// With Symptom enabled (the default) the version must also have shown a
// symptom the detectors can see, or none could be measured: see
// SymptomGate.
type RollbackLF struct {
	Enabled     bool    `yaml:"enabled" json:"enabled"`           // default true
	WithinHours float64 `yaml:"within_hours" json:"within_hours"` // default 48
	// Symptom is the symptom gate (labeling.rollback.symptom).
	Symptom SymptomGate `yaml:"symptom" json:"symptom"`
}

func (RollbackLF) defaults() Function {
	return RollbackLF{Enabled: true, WithinHours: 48, Symptom: defaultSymptomGate()}
}

// Name implements Function.
func (RollbackLF) Name() string { return FnRollback }

// Description implements Function.
func (RollbackLF) Description() string {
	return "the next deployment of another version rolled back (explicit kind or return to an earlier version) within rollback.within_hours, " +
		"and the version showed a symptom the detectors can see (rollback.symptom) or none could be measured"
}

// Assumption implements Function.
func (f RollbackLF) Assumption() string {
	return "a version rolled back soon after its deploy was rolled back because it was faulty, and the rollback itself is not" +
		f.Symptom.assumption("it was rolled back for a reason no metric shows")
}

// Validate implements Function.
func (f RollbackLF) Validate() error {
	if err := positive("within_hours", f.WithinHours); err != nil {
		return err
	}
	return f.Symptom.validate()
}

func (f RollbackLF) enabled() bool    { return f.Enabled }
func (RollbackLF) dependence() string { return dependenceReplacement }

func (RollbackLF) featuresSwitch() string { return "symptom.enabled" }
func (RollbackLF) reaction()              {}

func (f RollbackLF) needs() needs { return needs{features: f.Symptom.columns()} }

func (f RollbackLF) vote(d *deploy) int8 {
	succ, ok := d.successor()
	if isRollback(d.Deployment) || !ok || !isRollback(succ) {
		return abstain
	}
	if succ.StartedAt.Sub(d.StartedAt) > hours(f.WithinHours) {
		return abstain
	}
	return f.Symptom.gate(d)
}
