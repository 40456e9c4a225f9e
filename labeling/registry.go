package labeling

// registry lists the built-in labeling functions, in column order: the one
// list that the configuration (sections, defaults, validation), the votes,
// the report and `faultline label --help` iterate over. Each entry is the
// zero value of a Function type; its defaults method gives its settings.
//
// To add a function, write its type in a new file lf_NAME.go and append it
// here (its position is its column's position in labels.parquet; keep the
// existing order, which the outputs depend on); then document it in
// docs/labeling.md. See lf_example_test.go for a complete example.
var registry = []Function{
	RollbackLF{},
	ShortLivedLF{},
	NewSignaturesLF{},
	EnsembleLF{},
	IncidentLF{},
	LatencyLF{},
	HealthyLF{},
	EarlyImpactLF{},
	BeforeAfterShiftLF{},
	KPIBreachLF{},
	BeforeAfterHealthyLF{},
	KPIBurstLF{},
	ReplacedHealthyLF{},
}

// Builtins returns the built-in labeling functions with their default
// settings, in column order.
func Builtins() []Function {
	out := make([]Function, len(registry))
	for i, f := range registry {
		out[i] = f.defaults()
	}
	return out
}
