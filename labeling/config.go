// Package labeling turns a deploy history into weak labels: labeling
// functions vote faulty, healthy or abstain on every deployment, a label model
// (package labelmodel) learns how far to trust each function without ground
// truth and combines the votes into P(faulty), and the result is written as
// labels.parquet with a per-function report, lf_report.json.
//
// Labeling functions may use hindsight — what happened hours or days after a
// deploy — because labels are not features. They never read annotations:
// only the report reads them, to measure the functions against human
// verdicts. See docs/labeling.md.
package labeling

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// Config is the "labeling" section of the pipeline settings, with the
// defaults of DefaultConfig. In YAML and JSON every built-in function is a
// key of its own, labeling.NAME, holding its settings; each Function type
// (RollbackLF and the others) documents its settings and their defaults.
type Config struct {
	// Model configures the label model.
	Model labelmodel.Config
	// Functions are the built-in labeling functions with their settings: one
	// per function of the registry, in column order (as DefaultConfig gives
	// them). Change one with With.
	Functions []Function
	// SQLFunctions are user-defined labeling functions run against the
	// PostgreSQL history (they need --db). Default none.
	SQLFunctions []SQLFunction
	// SQLTimeoutSeconds is the statement timeout of each SQL function.
	// Default 30.
	SQLTimeoutSeconds float64
	// SQLDSN is the PostgreSQL connection string SQL functions run with: the
	// history's database as a login role that is a member of
	// faultline_labeler (docs/security.md). It may not hold a password (use
	// a password file). Default "": the history DSN (--db), whose role is
	// normally refused because it can read annotations.
	SQLDSN string
	// SQLUnsafeAllowPrivilegedRole runs SQL functions even when their
	// session could do more than read the history (a superuser, server file
	// or program privileges, signalling other sessions, reading
	// annotations): the queries may then act on the database server.
	// Default false: such a session is refused (ErrPrivilegedRole).
	SQLUnsafeAllowPrivilegedRole bool
}

// SQLFunction is a user-defined labeling function: a query against the
// PostgreSQL history returning rows (deployment_id, vote), where vote is
// 1/0/-1, 'faulty'/'healthy'/'abstain', or NULL (abstain). Deployments the
// query does not return abstain. It runs in a read-only transaction with a
// statement timeout, and must not read the annotations or simulation_truth
// tables.
type SQLFunction struct {
	// Name names the function and its column lf_NAME: lower-case letters,
	// digits and underscores, starting with a letter.
	Name string `yaml:"name" json:"name"`
	SQL  string `yaml:"sql" json:"sql"`
	// Description is shown in the report; optional.
	Description string `yaml:"description" json:"description,omitempty"`
}

// The dependences the default label model declares as groups
// (docs/labeling.md, "Dependent functions"):
//
//   - dependenceReplacement: rollback, short_lived and healthy_evidence read
//     one event — when, and by what, the version was replaced — so they
//     exclude each other by construction;
//   - dependenceSymptom: new_error_signatures, latency_degradation and
//     early_impact each read one symptom of a fault (new errors, latency,
//     a higher error rate). A fault mostly shows one of them, so given
//     "faulty" they are not independent: without the group, a lone latency
//     vote's two silent neighbours count as evidence of health.
const (
	dependenceReplacement = "replacement"
	dependenceSymptom     = "symptom"
)

// dependent is implemented by functions whose votes depend on other
// functions' by construction; the functions sharing a dependence are one
// group of the default label model.
type dependent interface {
	dependence() string
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	c := Config{Model: labelmodel.DefaultConfig(), Functions: Builtins(), SQLTimeoutSeconds: 30}
	c.Model.Groups = dependenceGroups(c.Functions)
	return c
}

// dependenceGroups returns the groups of functions that share a
// dependence, in registry order.
func dependenceGroups(fns []Function) [][]string {
	var keys []string
	by := map[string][]string{}
	for _, f := range fns {
		if e, ok := f.(dependent); ok {
			k := e.dependence()
			if _, seen := by[k]; !seen {
				keys = append(keys, k)
			}
			by[k] = append(by[k], f.Name())
		}
	}
	var out [][]string
	for _, k := range keys {
		if len(by[k]) > 1 {
			out = append(out, by[k])
		}
	}
	return out
}

// WithEnsembleHorizon returns c with the statistical_ensemble function
// reading the ensemble verdict at horizon h: features.ensemble_horizon, the
// one setting of the ensemble horizon, which the caller passes in. It does
// not modify c.
func (c Config) WithEnsembleHorizon(h int) Config {
	if f, ok := c.Function(FnEnsemble).(EnsembleLF); ok {
		f.HorizonMinutes = h
		return c.With(f)
	}
	return c
}

// Function returns the built-in function called name with its settings, or
// nil.
func (c Config) Function(name string) Function {
	for _, f := range c.Functions {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// With returns c with f in place of the function of the same name (added
// at the end when there is none). It does not modify c.
func (c Config) With(f Function) Config {
	fns := slices.Clone(c.Functions)
	i := slices.IndexFunc(fns, func(g Function) bool { return g.Name() == f.Name() })
	if i < 0 {
		fns = append(fns, f)
	} else {
		fns[i] = f
	}
	c.Functions = fns
	return c
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// validHorizons checks a function's list of horizons, in minutes, under
// key: not empty, each > 0, none twice.
func validHorizons(key string, hs []int) error {
	if len(hs) == 0 {
		return config.Errorf(key, "empty; list at least one horizon in minutes")
	}
	for i, h := range hs {
		if h <= 0 {
			return config.Errorf(key, "%d must be > 0", h)
		}
		if slices.Contains(hs[:i], h) {
			return config.Errorf(key, "%d is listed twice", h)
		}
	}
	return nil
}

// positive returns a *config.FieldError at key unless v > 0.
func positive(key string, v float64) error {
	if !(v > 0) {
		return config.Errorf(key, "%v must be > 0", v)
	}
	return nil
}

// Validate checks the settings. It reports every invalid setting, as
// *config.FieldError values (joined) whose paths start with "labeling.".
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, f := range c.Functions {
		if seen[f.Name()] {
			errs = append(errs, config.Errorf("labeling."+f.Name(), "function %q is configured twice", f.Name()))
		}
		seen[f.Name()] = true
		errs = append(errs, config.Nest("labeling."+f.Name(), f.Validate()))
	}
	errs = append(errs, config.Nest("labeling.model", c.Model.Validate()), c.validateGroups())
	errs = append(errs, config.Nest("labeling", positive(keySQLTimeout, c.SQLTimeoutSeconds)))
	errs = append(errs, config.InSection("labeling", validateSQLDSN(c.SQLDSN)))
	for i, f := range c.SQLFunctions {
		path := fmt.Sprintf("labeling.%s[%d]", keySQL, i)
		switch {
		case !nameRE.MatchString(f.Name):
			errs = append(errs, config.Errorf(path+".name", "%q must be lower-case letters, digits and underscores, starting with a letter", f.Name))
		case seen[f.Name]:
			errs = append(errs, config.Errorf(path+".name", "%q is already used by another labeling function", f.Name))
		}
		seen[f.Name] = true
		if strings.TrimSpace(f.SQL) == "" {
			errs = append(errs, config.Errorf(path+".sql", "(%s) sql is empty", f.Name))
		} else if t := forbiddenTable(f.SQL); t != "" {
			errs = append(errs, config.Errorf(path+".sql", "(%s) reads table %s; labeling functions must not read human or simulated labels", f.Name, t))
		}
	}
	if len(c.enabledNames()) == 0 {
		errs = append(errs, config.Errorf("labeling", "every labeling function is disabled"))
	}
	return errors.Join(errs...)
}

var forbiddenRE = regexp.MustCompile(`(?i)\b(annotations|simulation_truth)\b`)

// forbiddenTable returns the name of a label table that sql mentions, or "".
// It is a guard against mistakes, not a security boundary.
func forbiddenTable(sql string) string {
	return strings.ToLower(forbiddenRE.FindString(sql))
}

// enabledBuiltins returns the enabled built-in functions in column order.
func (c *Config) enabledBuiltins() []Function {
	var out []Function
	for _, f := range c.Functions {
		if f.enabled() {
			out = append(out, f)
		}
	}
	return out
}

// enabledNames returns the names of the enabled functions in column order:
// built-ins first, then SQL functions in configuration order.
func (c *Config) enabledNames() []string {
	var out []string
	for _, f := range c.enabledBuiltins() {
		out = append(out, f.Name())
	}
	for _, f := range c.SQLFunctions {
		out = append(out, f.Name)
	}
	return out
}

// The configuration keys of the labeling section besides the functions'.
const (
	keyModel      = "model"
	keySQL        = "sql_functions"
	keySQLTimeout = "sql_timeout_seconds"
	keySQLDSN     = "sql_dsn"
	keySQLUnsafe  = "sql_unsafe_allow_privileged_role"
)

// sections returns the functions whose settings the YAML and JSON forms
// hold, in order: every registered function, with c's settings when c has
// them (the zero value otherwise), then any function of c that is not
// registered.
func (c *Config) sections() []Function {
	out := make([]Function, 0, len(registry))
	for _, r := range registry {
		f := c.Function(r.Name())
		if f == nil {
			f = r
		}
		out = append(out, f)
	}
	for _, f := range c.Functions {
		if !slices.ContainsFunc(registry, func(r Function) bool { return r.Name() == f.Name() }) {
			out = append(out, f)
		}
	}
	return out
}

// form returns a pointer to a struct of the section's YAML and JSON shape:
// model, one key per function, sql_functions, sql_timeout_seconds, sql_dsn,
// sql_unsafe_allow_privileged_role. With
// byRef its fields are pointers: to c's Model, SQLFunctions and
// SQLTimeoutSeconds, and to a copy of each of fns (decode into it, then read
// the copies back with fromForm); otherwise they are values, to encode.
func (c *Config) form(fns []Function, byRef bool) reflect.Value {
	typ := func(t reflect.Type) reflect.Type {
		if byRef {
			return reflect.PointerTo(t)
		}
		return t
	}
	field := func(name, key string, t reflect.Type, jsonOpt string) reflect.StructField {
		return reflect.StructField{Name: name, Type: typ(t),
			Tag: reflect.StructTag(fmt.Sprintf(`yaml:"%s" json:"%s%s"`, key, key, jsonOpt))}
	}
	fields := []reflect.StructField{field("Model", keyModel, reflect.TypeOf(c.Model), "")}
	for i, f := range fns {
		fields = append(fields, field(fmt.Sprintf("F%d", i), f.Name(), reflect.TypeOf(f), ""))
	}
	fields = append(fields, field("SQLFunctions", keySQL, reflect.TypeOf(c.SQLFunctions), ",omitempty"),
		field("SQLTimeoutSeconds", keySQLTimeout, reflect.TypeOf(c.SQLTimeoutSeconds), ""),
		field("SQLDSN", keySQLDSN, reflect.TypeOf(c.SQLDSN), ""),
		field("SQLUnsafe", keySQLUnsafe, reflect.TypeOf(c.SQLUnsafeAllowPrivilegedRole), ""))
	v := reflect.New(reflect.StructOf(fields))
	s := v.Elem()
	set := func(i int, p reflect.Value) {
		if byRef {
			s.Field(i).Set(p)
		} else {
			s.Field(i).Set(p.Elem())
		}
	}
	set(0, reflect.ValueOf(&c.Model))
	for i, f := range fns {
		p := reflect.New(reflect.TypeOf(f))
		p.Elem().Set(reflect.ValueOf(f))
		set(1+i, p)
	}
	set(1+len(fns), reflect.ValueOf(&c.SQLFunctions))
	set(2+len(fns), reflect.ValueOf(&c.SQLTimeoutSeconds))
	set(3+len(fns), reflect.ValueOf(&c.SQLDSN))
	set(4+len(fns), reflect.ValueOf(&c.SQLUnsafeAllowPrivilegedRole))
	return v
}

// fromForm sets c's functions from a form built with byRef after decoding.
// A field that decoding set to nil (an explicit null) keeps the function's
// settings.
func (c *Config) fromForm(v reflect.Value, fns []Function) {
	s := v.Elem()
	out := make([]Function, len(fns))
	for i, f := range fns {
		out[i] = f
		if p := s.Field(1 + i); !p.IsNil() {
			out[i] = p.Elem().Interface().(Function)
		}
	}
	c.Functions = out
}

// MarshalYAML implements yaml.Marshaler: the section's shape, with one key
// per function.
func (c Config) MarshalYAML() (any, error) {
	return c.form(c.sections(), false).Interface(), nil
}

// UnmarshalYAML implements the yaml.v3 unmarshaler that receives the
// decoding function (not the one that receives a yaml.Node: Node.Decode
// would drop the decoder's settings), so that the decoder's settings hold
// for every key: with KnownFields, as internal/config decodes, an unknown
// key in the section or in a function's settings is an error naming it and
// its line. Keys absent from the document keep c's settings (the defaults,
// when c holds them).
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	fns := c.sections()
	form := c.form(fns, true)
	if err := unmarshal(form.Interface()); err != nil {
		// Name the section's type, not the form's, in the decoder's errors.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			anon := form.Elem().Type().String()
			for i, e := range te.Errors {
				te.Errors[i] = strings.ReplaceAll(e, anon, "labeling.Config")
			}
		}
		return err
	}
	c.fromForm(form, fns)
	return nil
}

// MarshalJSON implements json.Marshaler, with the YAML form's keys.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.form(c.sections(), false).Interface())
}

// UnmarshalJSON implements json.Unmarshaler, with the YAML form's keys.
func (c *Config) UnmarshalJSON(b []byte) error {
	fns := c.sections()
	form := c.form(fns, true)
	if err := json.Unmarshal(b, form.Interface()); err != nil {
		return err
	}
	c.fromForm(form, fns)
	return nil
}

// CheckFeatures checks the enabled built-in functions against the feature
// settings: every horizon whose features_hH.parquet a function reads must be
// one of f.Horizons, or the label stage would stop on a missing file. The
// statistical_ensemble function reads features.ensemble_horizon, which the
// feature settings check themselves (features.Config.CheckEnsembleHorizon).
func (c *Config) CheckFeatures(f features.Config) error {
	var errs []error
	for _, fn := range c.enabledBuiltins() {
		if fn.Name() == FnEnsemble {
			continue
		}
		var missing []int
		for _, col := range fn.needs().features {
			if !slices.Contains(f.Horizons, col.horizon) && !slices.Contains(missing, col.horizon) {
				missing = append(missing, col.horizon)
			}
		}
		for _, h := range missing {
			errs = append(errs, &config.FieldError{Path: "labeling." + fn.Name(), Also: []string{"features.horizons"},
				Msg: fmt.Sprintf("reads features_h%d.parquet, but %d is not one of features.horizons %v: add it there, or change or disable the function", h, h, f.SortedHorizons())})
		}
	}
	return errors.Join(errs...)
}
