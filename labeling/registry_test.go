package labeling

import (
	"reflect"
	"slices"
	"testing"
)

// TestRegistry checks what every registered function must provide.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{keyModel: true, keySQL: true, keySQLTimeout: true}
	for i, r := range registry {
		name := r.Name()
		if !nameRE.MatchString(name) {
			t.Errorf("registry[%d]: name %q is not a lower-case identifier", i, name)
		}
		if seen[name] {
			t.Errorf("registry[%d]: name %q is used twice or is a key of the labeling section", i, name)
		}
		seen[name] = true
		if r.Description() == "" || r.Assumption() == "" {
			t.Errorf("%s: empty description or assumption", name)
		}
		d := r.defaults()
		if reflect.TypeOf(d) != reflect.TypeOf(r) || d.Name() != name {
			t.Errorf("%s: defaults are a %T named %s", name, d, d.Name())
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: defaults do not validate: %v", name, err)
		}
		if reflect.TypeOf(r).Kind() != reflect.Struct {
			t.Errorf("%s: %T is not a struct: its settings could not be decoded", name, r)
		} else if f, ok := reflect.TypeOf(r).FieldByName("Enabled"); !ok || f.Tag.Get("yaml") != "enabled" {
			t.Errorf("%s: no setting \"enabled\"", name)
		}
	}
}

func TestBuiltinsAreTheDefaults(t *testing.T) {
	b := Builtins()
	c := DefaultConfig()
	if !reflect.DeepEqual(b, c.Functions) || len(b) != len(registry) {
		t.Fatalf("Builtins %v, DefaultConfig().Functions %v", b, c.Functions)
	}
	// The functions read off the replacement event, and those that each
	// read one symptom of a fault, are the default groups.
	want := [][]string{{FnRollback, FnShortLived, FnHealthy}, {FnNewSignatures, FnLatency, FnEarlyImpact}}
	if !reflect.DeepEqual(c.Model.Groups, want) {
		t.Errorf("default groups %v, want %v", c.Model.Groups, want)
	}
	var names []string
	for _, f := range c.enabledBuiltins() {
		names = append(names, f.Name())
	}
	if !slices.Equal(names, []string{FnRollback, FnNewSignatures, FnEnsemble, FnIncident, FnLatency, FnHealthy, FnEarlyImpact,
		FnBeforeAfterShift, FnKPIBreach, FnBeforeAfterHealthy, FnKPIBurst, FnReplacedHealthy}) {
		t.Errorf("enabled by default: %v; the column order of the outputs changed", names)
	}
}
