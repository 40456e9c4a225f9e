// Package registry keeps versioned detector models: their artifacts (the
// per-horizon LightGBM text files, stored content-addressed by SHA-256),
// training parameters, metrics, feature schema and lineage; aliases such as
// `candidate` and `production` with an append-only history of every move; a
// promotion gate that judges only on evidence it computes itself (an
// Evaluator, package registry/evidence: the candidate, the current holder
// and the statistical baseline scored on one evaluation set from the
// history store) against floors and the current holder; and export and
// import of bundles (package registry/bundle) for detectors — an imported
// version's claims are recorded, never trusted.
//
// Two backends implement Backend: the embedded folder (OpenDir, HOME/registry)
// and PostgreSQL (package registry/pgregistry, tables from migrations
// 0010+). Registry adds the rules on top of a Backend; both backends pass the
// conformance suite in registry/registrytest.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/models/lightgbm"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// Errors that callers may test with errors.Is.
var (
	// ErrNotFound: no such model, version, alias or blob.
	ErrNotFound = errors.New("not found")
	// ErrGateRefused: the promotion gate refused the move.
	ErrGateRefused = errors.New("promotion refused by the gate")
	// ErrRunConflict: a pipeline run registers models that differ from the
	// version the same run registered before.
	ErrRunConflict = errors.New("the run already registered different models")
	// ErrNoEvidence: the gate could not compute its own evidence for a
	// promotion (no evaluator, no evaluation set, no history).
	ErrNoEvidence = errors.New("no computed evidence")
	// ErrSchemaMismatch: a bundle's feature schema differs from the expected
	// one, or a model reads features the schema does not have. It is
	// lightgbm.ErrSchemaMismatch (and detector.ErrSchemaMismatch).
	ErrSchemaMismatch = lightgbm.ErrSchemaMismatch
)

// Artifact is one file of a model version, stored by content hash.
type Artifact struct {
	// Name is the file name, e.g. "model_h10.txt".
	Name string `json:"name"`
	// Horizon is set for per-horizon model files: minutes.
	Horizon int    `json:"horizon,omitempty"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// Origins of Metrics: who measured them.
const (
	// OriginEvaluation: the evaluation stage of the pipeline run the
	// version was registered from (evaluation/metrics.json of its work
	// folder). Informative; the gate does not judge on them.
	OriginEvaluation = "evaluation"
	// OriginGate: computed by the promotion gate itself, from the history
	// store (see Evidence). The only metrics the gate judges on.
	OriginGate = "gate"
	// OriginBundle: claimed by an imported bundle's metrics.json. Never
	// trusted: shown as unverified until the gate computes its own.
	OriginBundle = "bundle"
)

// Metrics are a version's evaluation results.
type Metrics struct {
	// EvalSetHash identifies the evaluation set the values were measured on.
	EvalSetHash string `json:"eval_set_hash,omitempty"`
	// Origin says who measured the values: OriginEvaluation,
	// OriginGate or OriginBundle (empty in records written before origins
	// were recorded: a pipeline evaluation, or an import's claims when the
	// version's lineage says "import").
	Origin string `json:"origin,omitempty"`
	// At is when the gate computed the values (OriginGate).
	At time.Time `json:"at,omitzero"`
	// Values are named scalar metrics, e.g. "h60.recall_at_precision".
	Values map[string]float64 `json:"values,omitempty"`
	// Detail is free-form JSON (e.g. the evaluation stage's metrics.json).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Lineage records where a version came from.
type Lineage struct {
	// RunID is the pipeline run that produced the version, if any.
	RunID string `json:"run_id,omitempty"`
	// Source is the training label source ("weak", "ensemble") or "import".
	Source      string `json:"source,omitempty"`
	DatasetHash string `json:"dataset_hash,omitempty"`
	LabelHash   string `json:"label_hash,omitempty"`
	// LabelModel holds the label model's settings.
	LabelModel  json.RawMessage `json:"label_model,omitempty"`
	CodeVersion string          `json:"code_version,omitempty"`
	// Workdir is the folder the version was registered from, if any.
	Workdir string `json:"workdir,omitempty"`
	// ImportedFrom is the bundle file an imported version was read from
	// (Source "import"); Bundle names the manifest's model@version.
	ImportedFrom string `json:"imported_from,omitempty"`
	Bundle       string `json:"bundle,omitempty"`
	// Claimed is the lineage an imported bundle's metrics.json claims,
	// verbatim and unverified (its run id, hashes, source).
	Claimed json.RawMessage `json:"claimed,omitempty"`
}

// Version is one registered model version. Versions are immutable.
type Version struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// CreatedAt and CreatedBy are set by the backend and Register.
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Description string    `json:"description,omitempty"`
	// FeatureSchema is the schema the models read, in input order.
	FeatureSchema bundle.Schema `json:"feature_schema"`
	// Horizons in minutes, ascending.
	Horizons []int `json:"horizons"`
	// Thresholds maps a horizon to its decision threshold on P(faulty).
	Thresholds map[int]float64 `json:"thresholds"`
	// Policy is the sequential policy's settings (free JSON).
	Policy json.RawMessage `json:"policy,omitempty"`
	// Params are the training parameters (free JSON).
	Params json.RawMessage `json:"params,omitempty"`
	// Metrics are the evaluation recorded at registration.
	Metrics Metrics `json:"metrics"`
	// Evaluations are later evaluations of this version on other
	// evaluation sets (AddEvaluation), one per EvalSetHash.
	Evaluations []Metrics  `json:"evaluations,omitempty"`
	Lineage     Lineage    `json:"lineage"`
	Artifacts   []Artifact `json:"artifacts"`
}

// Imported reports whether v was registered from a bundle (registry
// import) rather than from a pipeline run's work folder.
func (v *Version) Imported() bool {
	return v.Lineage.Source == "import" || v.Lineage.ImportedFrom != "" || v.Metrics.Origin == OriginBundle
}

// Verified returns the newest metrics the promotion gate computed for v
// (OriginGate), and false when it never did.
func (v *Version) Verified() (Metrics, bool) {
	var best Metrics
	found := false
	for _, m := range append([]Metrics{v.Metrics}, v.Evaluations...) {
		if m.Origin == OriginGate && (!found || m.At.After(best.At)) {
			best, found = m, true
		}
	}
	return best, found
}

// EvaluationOn returns the version's metrics on evaluation set hash.
func (v *Version) EvaluationOn(hash string) (Metrics, bool) {
	if hash == "" {
		return Metrics{}, false
	}
	if v.Metrics.EvalSetHash == hash {
		return v.Metrics, true
	}
	for i := len(v.Evaluations) - 1; i >= 0; i-- {
		if v.Evaluations[i].EvalSetHash == hash {
			return v.Evaluations[i], true
		}
	}
	return Metrics{}, false
}

// Artifact returns the artifact named name.
func (v *Version) Artifact(name string) (Artifact, bool) {
	for _, a := range v.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// Alias is the current position of an alias.
type Alias struct {
	Name      string    `json:"model"`
	Alias     string    `json:"alias"`
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Move is one entry of an alias's append-only history.
type Move struct {
	// Seq numbers the moves of one alias from 1, without gaps.
	Seq   int64  `json:"seq"`
	Name  string `json:"model"`
	Alias string `json:"alias"`
	// From is the version the alias left, 0 when it pointed nowhere.
	From int       `json:"from"`
	To   int       `json:"to"`
	At   time.Time `json:"at"`
	By   string    `json:"by,omitempty"`
	// Reason is the operator's explanation; required with Forced.
	Reason string `json:"reason,omitempty"`
	Forced bool   `json:"forced,omitempty"`
	// Decision is the promotion gate's comparison.
	Decision *Decision `json:"decision,omitempty"`
}

// Backend stores versions, blobs and aliases. Implementations must be safe
// for concurrent use by goroutines and by processes sharing the storage.
type Backend interface {
	// PutBlob stores data under its SHA-256 (hex), which the caller computed.
	// Storing an existing blob is a no-op.
	PutBlob(ctx context.Context, sha string, data []byte) error
	// Blob returns the content stored under sha, or ErrNotFound.
	Blob(ctx context.Context, sha string) ([]byte, error)
	// CreateVersion stores v (artifacts already stored as blobs) under the
	// next version number of v.Name (1 for a new name), which it returns
	// with created true. Numbers are never reused. It sets v.CreatedAt when
	// zero. Registration is idempotent per pipeline run: when
	// v.Lineage.RunID is not empty and a version of v.Name already records
	// the same run id and label source (Lineage.Source), nothing is stored
	// and that version's number is returned with created false. The check
	// and the creation are atomic (under the lock that numbers versions).
	CreateVersion(ctx context.Context, v *Version) (n int, created bool, err error)
	// Version returns one version, or ErrNotFound.
	Version(ctx context.Context, name string, version int) (*Version, error)
	// Versions returns the versions of name in ascending order (empty when
	// the name is unknown).
	Versions(ctx context.Context, name string) ([]Version, error)
	// AddEvaluation records metrics of an existing version on another
	// evaluation set (m.EvalSetHash, required); a second evaluation on the
	// same set replaces the first.
	AddEvaluation(ctx context.Context, name string, version int, m Metrics) error
	// Models lists the model names, sorted.
	Models(ctx context.Context) ([]string, error)
	// Aliases lists the aliases of name, sorted by alias.
	Aliases(ctx context.Context, name string) ([]Alias, error)
	// History returns the moves of one alias, or of every alias of name when
	// alias is empty, in order of Seq (per alias) and time.
	History(ctx context.Context, name, alias string) ([]Move, error)
	// MoveAlias atomically moves an alias. Holding a lock that serializes
	// every move of (name, alias), it calls decide with the version the alias
	// points at now (nil when none; decide must not call the backend); when decide returns a move, the backend
	// sets its Seq, Name, Alias, From and At (when zero), points the alias at
	// move.To and appends the move to the history, all or nothing. An error
	// from decide is returned unchanged and nothing is written. To must be an
	// existing version.
	MoveAlias(ctx context.Context, name, alias string, decide func(current *Version) (*Move, error)) (*Move, error)
	// Describe names the backend for messages.
	Describe() string
	Close() error
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ValidName checks a model or alias name: letters, digits, '.', '_', '-',
// starting with a letter or digit, at most 100 characters. Alias names may
// not be all digits (they would read as versions).
func ValidName(kind, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '.', '_' or '-' (at most 100)", kind, s)
	}
	if kind == "alias" {
		if _, err := strconv.Atoi(s); err == nil {
			return fmt.Errorf("invalid alias name %q: an alias may not be a number", s)
		}
	}
	return nil
}

// Ref names a version: by number, or through an alias.
type Ref struct {
	Name    string
	Version int    // > 0 when the ref names a version
	Alias   string // set when the ref names an alias
}

func (r Ref) String() string {
	if r.Alias != "" {
		return r.Name + "@" + r.Alias
	}
	return r.Name + "@" + strconv.Itoa(r.Version)
}

// ParseRef parses "NAME@VERSION", "NAME@ALIAS", "VERSION" or "ALIAS" (the
// last two use defaultName). A version may be written "v3" or "3".
func ParseRef(s, defaultName string) (Ref, error) {
	name, sel := defaultName, s
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		name, sel = s[:i], s[i+1:]
	}
	if name == "" {
		return Ref{}, fmt.Errorf("model reference %q: no model name", s)
	}
	if err := ValidName("model", name); err != nil {
		return Ref{}, fmt.Errorf("model reference %q: %w", s, err)
	}
	if sel == "" {
		return Ref{}, fmt.Errorf("model reference %q: no version or alias after the name", s)
	}
	num := strings.TrimPrefix(sel, "v")
	if n, err := strconv.Atoi(num); err == nil {
		if n <= 0 {
			return Ref{}, fmt.Errorf("model reference %q: versions start at 1", s)
		}
		return Ref{Name: name, Version: n}, nil
	}
	if err := ValidName("alias", sel); err != nil {
		return Ref{}, fmt.Errorf("model reference %q: %w", s, err)
	}
	return Ref{Name: name, Alias: sel}, nil
}

// Registry applies the registry's rules over a Backend.
type Registry struct {
	b   Backend
	cfg Config
	now func() time.Time
}

// New returns a Registry over b with cfg (see DefaultConfig).
func New(b Backend, cfg Config) *Registry {
	return &Registry{b: b, cfg: cfg, now: func() time.Time { return time.Now().UTC() }}
}

// Backend returns the underlying backend.
func (r *Registry) Backend() Backend { return r.b }

// Config returns the registry's configuration.
func (r *Registry) Config() Config { return r.cfg }

// Close closes the backend.
func (r *Registry) Close() error { return r.b.Close() }

// NewVersion is what Register needs to create a version.
type NewVersion struct {
	Name          string
	CreatedBy     string
	Description   string
	FeatureSchema bundle.Schema
	Horizons      []int
	Thresholds    map[int]float64
	Policy        json.RawMessage
	Params        json.RawMessage
	Metrics       Metrics
	Lineage       Lineage
	// Models maps a horizon to its LightGBM text model.
	Models map[int][]byte
	// Files are extra artifacts by file name (e.g. "train.json").
	Files map[string][]byte
}

// Register stores the artifacts of nv content-addressed and creates the next
// version of nv.Name. It is idempotent per pipeline run: when
// nv.Lineage.RunID is set and the same run already registered a version of
// nv.Name from the same label source, that version is returned (and
// nothing is created) if its models and thresholds are nv's; otherwise the
// error wraps ErrRunConflict.
func (r *Registry) Register(ctx context.Context, nv NewVersion) (*Version, error) {
	if err := ValidName("model", nv.Name); err != nil {
		return nil, err
	}
	if len(nv.Horizons) == 0 {
		return nil, fmt.Errorf("register %s: no horizons", nv.Name)
	}
	hs := append([]int(nil), nv.Horizons...)
	sort.Ints(hs)
	for i, h := range hs {
		if h <= 0 || (i > 0 && h == hs[i-1]) {
			return nil, fmt.Errorf("register %s: horizons must be positive and distinct, got %v", nv.Name, nv.Horizons)
		}
		if _, ok := nv.Models[h]; !ok {
			return nil, fmt.Errorf("register %s: no model for horizon %d", nv.Name, h)
		}
		if _, ok := nv.Thresholds[h]; !ok {
			return nil, fmt.Errorf("register %s: no threshold for horizon %d", nv.Name, h)
		}
	}
	if len(nv.Models) != len(hs) {
		return nil, fmt.Errorf("register %s: %d model files for %d horizons", nv.Name, len(nv.Models), len(hs))
	}
	if len(nv.FeatureSchema.Names) == 0 {
		return nil, fmt.Errorf("register %s: the feature schema has no names", nv.Name)
	}
	for k, x := range nv.Metrics.Values {
		if x != x { // NaN cannot be stored in JSON
			return nil, fmt.Errorf("register %s: metric %s is NaN", nv.Name, k)
		}
	}
	v := &Version{
		Name: nv.Name, CreatedAt: r.now(), CreatedBy: nv.CreatedBy, Description: nv.Description,
		FeatureSchema: nv.FeatureSchema, Horizons: hs, Thresholds: nv.Thresholds,
		Policy: nv.Policy, Params: nv.Params, Metrics: nv.Metrics, Lineage: nv.Lineage,
	}
	put := func(name string, h int, data []byte) error {
		sum := bundle.Sum(data)
		if err := r.b.PutBlob(ctx, sum, data); err != nil {
			return fmt.Errorf("register %s: store %s: %w", nv.Name, name, err)
		}
		v.Artifacts = append(v.Artifacts, Artifact{Name: name, Horizon: h, SHA256: sum, Size: int64(len(data))})
		return nil
	}
	for _, h := range hs {
		if err := put(bundle.ModelFileName(h), h, nv.Models[h]); err != nil {
			return nil, err
		}
	}
	extra := make([]string, 0, len(nv.Files))
	for name := range nv.Files {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		if _, dup := v.Artifact(name); dup || strings.ContainsAny(name, "/\\") || name == "" {
			return nil, fmt.Errorf("register %s: invalid or duplicate artifact name %q", nv.Name, name)
		}
		if err := put(name, 0, nv.Files[name]); err != nil {
			return nil, err
		}
	}
	n, created, err := r.b.CreateVersion(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", nv.Name, err)
	}
	if !created {
		old, err := r.b.Version(ctx, nv.Name, n)
		if err != nil {
			return nil, fmt.Errorf("register %s: run %s: %w", nv.Name, nv.Lineage.RunID, err)
		}
		if d := sameModels(old, v); d != "" {
			return nil, fmt.Errorf("register %s: run %s (source %s) registered version %d before, with %s: %w; start a new run",
				nv.Name, nv.Lineage.RunID, nv.Lineage.Source, n, d, ErrRunConflict)
		}
		return old, nil
	}
	v.Version = n
	return v, nil
}

// sameModels returns "" when a and b have the same horizons, model files
// and thresholds, else what differs.
func sameModels(a, b *Version) string {
	if fmt.Sprint(a.Horizons) != fmt.Sprint(b.Horizons) {
		return fmt.Sprintf("horizons %v instead of %v", a.Horizons, b.Horizons)
	}
	for _, h := range a.Horizons {
		x, _ := a.Artifact(bundle.ModelFileName(h))
		y, _ := b.Artifact(bundle.ModelFileName(h))
		if x.SHA256 != y.SHA256 {
			return fmt.Sprintf("another %s (sha256 %.12s, now %.12s)", x.Name, x.SHA256, y.SHA256)
		}
		if a.Thresholds[h] != b.Thresholds[h] {
			return fmt.Sprintf("threshold %g at %d minutes (now %g)", a.Thresholds[h], h, b.Thresholds[h])
		}
	}
	return ""
}

// Resolve returns the version a reference names.
func (r *Registry) Resolve(ctx context.Context, ref Ref) (*Version, error) {
	n := ref.Version
	if ref.Alias != "" {
		as, err := r.b.Aliases(ctx, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", ref, err)
		}
		n = 0
		for _, a := range as {
			if a.Alias == ref.Alias {
				n = a.Version
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("resolve %s: alias %q of model %q: %w", ref, ref.Alias, ref.Name, ErrNotFound)
		}
	}
	v, err := r.b.Version(ctx, ref.Name, n)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return v, nil
}

// Get parses s with ParseRef (default model name from the configuration)
// and resolves it.
func (r *Registry) Get(ctx context.Context, s string) (*Version, error) {
	ref, err := ParseRef(s, r.cfg.Model)
	if err != nil {
		return nil, err
	}
	return r.Resolve(ctx, ref)
}

// ReadArtifact returns the content of an artifact of v, verifying its hash.
func (r *Registry) ReadArtifact(ctx context.Context, v *Version, name string) ([]byte, error) {
	a, ok := v.Artifact(name)
	if !ok {
		return nil, fmt.Errorf("%s@%d has no artifact %s: %w", v.Name, v.Version, name, ErrNotFound)
	}
	data, err := r.b.Blob(ctx, a.SHA256)
	if err != nil {
		return nil, fmt.Errorf("read %s of %s@%d: %w", name, v.Name, v.Version, err)
	}
	if got := bundle.Sum(data); got != a.SHA256 {
		return nil, fmt.Errorf("read %s of %s@%d: stored blob is corrupt (sha256 %s, want %s)", name, v.Name, v.Version, got, a.SHA256)
	}
	return data, nil
}

// Models reads every per-horizon model file of v.
func (r *Registry) Models(ctx context.Context, v *Version) (map[int][]byte, error) {
	out := make(map[int][]byte, len(v.Horizons))
	for _, h := range v.Horizons {
		data, err := r.ReadArtifact(ctx, v, bundle.ModelFileName(h))
		if err != nil {
			return nil, err
		}
		out[h] = data
	}
	return out, nil
}

// Export writes the bundle of the version ref names to w.
func (r *Registry) Export(ctx context.Context, ref Ref, w io.Writer) (*bundle.Manifest, error) {
	v, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	b, err := r.Bundle(ctx, v)
	if err != nil {
		return nil, err
	}
	if err := bundle.Write(w, b); err != nil {
		return nil, fmt.Errorf("export %s@%d: %w", v.Name, v.Version, err)
	}
	return &b.Manifest, nil
}

// Bundle assembles the bundle of v in memory (checksums are filled in by
// bundle.Write).
func (r *Registry) Bundle(ctx context.Context, v *Version) (*bundle.Bundle, error) {
	models, err := r.Models(ctx, v)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{
		Manifest: bundle.Manifest{
			Model: v.Name, Version: v.Version, CreatedAt: v.CreatedAt,
			FeatureSchema: v.FeatureSchema, Horizons: v.Horizons, Thresholds: v.Thresholds,
			Policy: v.Policy, EvalSetHash: v.Metrics.EvalSetHash,
		},
		Files: map[string][]byte{},
	}
	for _, h := range v.Horizons {
		name := bundle.ModelFileName(h)
		b.Files[name] = models[h]
		b.Manifest.Files = append(b.Manifest.Files, bundle.FileEntry{Path: name, Horizon: h})
	}
	summary := struct {
		Model   string  `json:"model"`
		Version int     `json:"version"`
		Metrics Metrics `json:"metrics"`
		Lineage Lineage `json:"lineage"`
	}{v.Name, v.Version, v.Metrics, v.Lineage}
	md, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export %s@%d: metrics: %w", v.Name, v.Version, err)
	}
	b.Files[bundle.MetricsName] = append(md, '\n')
	return b, nil
}

// ImportOptions control Import.
type ImportOptions struct {
	// Name registers the bundle under this model name instead of the
	// manifest's.
	Name string
	// Schema is the feature schema of this build (features.Schema); the
	// bundle's feature names must equal its names in order. Required.
	Schema bundle.Schema
	// By records who imported.
	By string
	// From names the bundle file, recorded in the lineage.
	From string
}

// Import reads a bundle from rd, verifies its checksums, checks that its
// feature schema matches opts.Schema (names and order) and that every model
// parses as LightGBM text whose feature count and names (when present)
// agree, and registers it as a new version.
//
// Nothing the bundle says about itself is trusted: the version's lineage is
// "import" from opts.From (the bundle's claimed lineage is kept aside in
// Lineage.Claimed), and the metrics of its metrics.json are recorded with
// OriginBundle — unverified, never judged on by the promotion gate, which
// computes its own evidence.
func (r *Registry) Import(ctx context.Context, rd io.Reader, opts ImportOptions) (*Version, error) {
	b, err := bundle.Read(rd)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := CheckSchema(b.Manifest.FeatureSchema, opts.Schema); err != nil {
		return nil, fmt.Errorf("import %s@%d: %w", b.Manifest.Model, b.Manifest.Version, err)
	}
	m := b.Manifest
	models := map[int][]byte{}
	for _, h := range m.Horizons {
		data, _ := b.Model(h)
		if err := CheckModelText(data, m.FeatureSchema.Names); err != nil {
			return nil, fmt.Errorf("import %s@%d: %s: %w", m.Model, m.Version, bundle.ModelFileName(h), err)
		}
		models[h] = data
	}
	name := m.Model
	if opts.Name != "" {
		name = opts.Name
	}
	from := opts.From
	if from == "" {
		from = "a bundle"
	}
	nv := NewVersion{
		Name: name, CreatedBy: opts.By, FeatureSchema: m.FeatureSchema, Horizons: m.Horizons,
		Thresholds: m.Thresholds, Policy: m.Policy, Models: models,
		Lineage:     Lineage{Source: "import", ImportedFrom: opts.From, Bundle: fmt.Sprintf("%s@%d", m.Model, m.Version)},
		Description: fmt.Sprintf("imported from %s (bundle %s@%d)", from, m.Model, m.Version),
		Metrics:     Metrics{Origin: OriginBundle},
	}
	if md, ok := b.Files[bundle.MetricsName]; ok {
		var s struct {
			Metrics Metrics         `json:"metrics"`
			Lineage json.RawMessage `json:"lineage"`
		}
		if err := json.Unmarshal(md, &s); err != nil {
			return nil, fmt.Errorf("import %s@%d: %s: %w", m.Model, m.Version, bundle.MetricsName, err)
		}
		claims := struct {
			EvalSetHash string          `json:"eval_set_hash,omitempty"`
			Origin      string          `json:"origin,omitempty"`
			Detail      json.RawMessage `json:"detail,omitempty"`
		}{s.Metrics.EvalSetHash, s.Metrics.Origin, s.Metrics.Detail}
		detail, err := json.Marshal(claims)
		if err != nil {
			return nil, fmt.Errorf("import %s@%d: %s: %w", m.Model, m.Version, bundle.MetricsName, err)
		}
		nv.Metrics = Metrics{Origin: OriginBundle, Values: s.Metrics.Values, Detail: detail}
		if len(s.Lineage) > 0 && string(s.Lineage) != "null" {
			nv.Lineage.Claimed = s.Lineage
		}
	}
	return r.Register(ctx, nv)
}

// CheckSchema reports whether got (a bundle's schema) matches want (this
// build's): the same feature names in the same order. Differing hashes with
// equal names are refused too when both hashes are set, since the
// definitions changed.
func CheckSchema(got, want bundle.Schema) error {
	if len(want.Names) == 0 {
		return fmt.Errorf("no expected feature schema given")
	}
	if len(got.Names) != len(want.Names) {
		return fmt.Errorf("%w: bundle has %d features (schema %s), this build computes %d (schema %s)%s",
			ErrSchemaMismatch, len(got.Names), got.Version, len(want.Names), want.Version, firstDiff(got.Names, want.Names))
	}
	if d := firstDiff(got.Names, want.Names); d != "" {
		return fmt.Errorf("%w: bundle schema %s vs this build's %s%s", ErrSchemaMismatch, got.Version, want.Version, d)
	}
	if got.Hash != "" && want.Hash != "" && got.Hash != want.Hash {
		return fmt.Errorf("%w: same feature names but schema hash %s differs from this build's %s (definitions changed; retrain)", ErrSchemaMismatch, got.Hash, want.Hash)
	}
	return nil
}

func firstDiff(a, b []string) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("; first difference at column %d: %q vs %q", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		n := min(len(a), len(b))
		if len(a) > n {
			return fmt.Sprintf("; extra column %d: %q", n, a[n])
		}
		return fmt.Sprintf("; missing column %d: %q", n, b[n])
	}
	return ""
}
