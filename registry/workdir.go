package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/registry/bundle"
)

// DirOptions control RegisterFromDir.
type DirOptions struct {
	// Name is the model name (default: the configured model).
	Name string
	// Source is the training label source: the folder models/SOURCE
	// (default "weak").
	Source string
	// Schema is this build's feature schema (with the feature settings the
	// workdir was extracted with: Config and ConfigHash). Its Version and
	// Hash must equal extract.json's and train.json's when those record
	// them; its ConfigHash must equal extract.json's.
	Schema bundle.Schema
	// RunID, CodeVersion and By are recorded in the lineage.
	RunID       string
	CodeVersion string
	By          string
	// Alias, when set, is moved to the new version through the gate
	// (typically "candidate"); a refusal is returned with the version. It
	// is not moved again when it already points at the version (a run
	// registering twice).
	Alias string
	// Evaluator computes the gate's evidence when Alias is gated.
	Evaluator Evaluator
}

// RegisterFromDir registers the models a pipeline run trained in workdir:
// models/SOURCE/model_hH.txt and train.json (thresholds, policy, params,
// data hashes), extract.json (feature schema and settings), and when present
// evaluation/metrics.json (metrics of contender SOURCE against every
// reference, identified by an evaluation set hash; OriginEvaluation). When
// metrics.json also evaluated the registry's production model
// ("production" contender), that evaluation is added to the production
// version. These metrics are informative: the promotion gate judges only
// on evidence it computes itself (see Promote). Like Register, it is
// idempotent per run (opts.RunID): registering the same run's models again
// returns the version registered the first time.
func (r *Registry) RegisterFromDir(ctx context.Context, dir string, opts DirOptions) (*Version, error) {
	if opts.Name == "" {
		opts.Name = r.cfg.Model
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if opts.Source == "" {
		opts.Source = "weak"
	}
	mdir := filepath.Join(dir, workdir.ModelDir(opts.Source))
	nv := NewVersion{
		Name: opts.Name, CreatedBy: opts.By, FeatureSchema: opts.Schema,
		Models: map[int][]byte{}, Files: map[string][]byte{}, Thresholds: map[int]float64{},
		Lineage: Lineage{RunID: opts.RunID, Source: opts.Source, CodeVersion: opts.CodeVersion, Workdir: dir},
	}
	ents, err := os.ReadDir(mdir)
	if err != nil {
		return nil, fmt.Errorf("register from %s: %w", mdir, err)
	}
	for _, e := range ents {
		h, ok := workdir.ModelHorizon(e.Name())
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(mdir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
		if err := CheckModelText(data, opts.Schema.Names); err != nil {
			return nil, fmt.Errorf("register: %s: %w", filepath.Join(mdir, e.Name()), err)
		}
		nv.Models[h] = data
		nv.Horizons = append(nv.Horizons, h)
	}
	if len(nv.Models) == 0 {
		return nil, fmt.Errorf("register: %s holds no model_hH.txt: %w", mdir, fs.ErrNotExist)
	}
	sort.Ints(nv.Horizons)

	// train.json
	tpath := filepath.Join(mdir, workdir.TrainFile)
	tdata, err := os.ReadFile(tpath)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if err := applyTrain(&nv, tdata); err != nil {
		return nil, fmt.Errorf("register: %s: %w", tpath, err)
	}
	nv.Files[workdir.TrainFile] = tdata
	for _, h := range nv.Horizons {
		if _, ok := nv.Thresholds[h]; !ok {
			return nil, fmt.Errorf("register: %s: no threshold for horizon %d", tpath, h)
		}
	}

	// extract.json
	epath := filepath.Join(dir, workdir.ExtractFile)
	if edata, err := os.ReadFile(epath); err == nil {
		ex, err := workdir.ParseExtract(edata)
		if err != nil {
			return nil, fmt.Errorf("register: %s: %w", epath, err)
		}
		if ex.SchemaVersion != opts.Schema.Version || ex.SchemaHash != "" && ex.SchemaHash != opts.Schema.Hash {
			return nil, fmt.Errorf("register: %s: %w: features were extracted with schema %s (%s), this build's is %s (%s)",
				epath, ErrSchemaMismatch, ex.SchemaVersion, ex.SchemaHash, opts.Schema.Version, opts.Schema.Hash)
		}
		if ex.ConfigHash != "" && opts.Schema.ConfigHash != "" && ex.ConfigHash != opts.Schema.ConfigHash {
			return nil, fmt.Errorf("register: %s: features were extracted with settings %s, but the \"features\" configuration given hashes to %s; register with the configuration the run used",
				epath, ex.ConfigHash, opts.Schema.ConfigHash)
		}
		if ex.ConfigHash != "" && opts.Schema.ConfigHash == "" {
			nv.FeatureSchema.ConfigHash = ex.ConfigHash
		}
		nv.Files[workdir.ExtractFile] = edata
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("register: %w", err)
	}

	// evaluation/metrics.json
	var prodEval *Metrics
	prodVersion := ""
	mpath := filepath.Join(dir, workdir.EvaluationFile(workdir.MetricsFile))
	if mdata, err := os.ReadFile(mpath); err == nil {
		m, err := MetricsFromReport(mdata, opts.Source)
		if err != nil {
			return nil, fmt.Errorf("register: %s: %w", mpath, err)
		}
		m.Origin = OriginEvaluation
		nv.Metrics = m
		if pm, err := MetricsFromReport(mdata, "production"); err == nil && len(pm.Values) > 0 {
			pm.Origin = OriginEvaluation
			prodEval = &pm
			prodVersion = contenderVersion(mdata, "production")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("register: %w", err)
	}

	v, err := r.Register(ctx, nv)
	if err != nil {
		return nil, err
	}
	if prodEval != nil {
		if ref, err := ParseRef(prodVersion, opts.Name); err == nil && ref.Name == opts.Name {
			if pv, err := r.Resolve(ctx, ref); err == nil && pv.Version != v.Version {
				if err := r.AddEvaluation(ctx, opts.Name, pv.Version, *prodEval); err != nil {
					return v, err
				}
			}
		}
	}
	if opts.Alias != "" {
		cur, err := r.holder(ctx, opts.Name, opts.Alias)
		if err != nil {
			return v, err
		}
		if versionOf(cur) == v.Version {
			return v, nil
		}
		if _, err := r.Promote(ctx, opts.Name, v.Version, opts.Alias, PromoteOptions{By: opts.By, Reason: "registered from " + dir, Evaluator: opts.Evaluator}); err != nil {
			return v, err
		}
	}
	return v, nil
}

// applyTrain records what the registry keeps of a train.json (read by
// workdir.ParseTrain): the policy's thresholds, the policy and parameters,
// the label source, and the input hashes as lineage (labels.parquet gives
// the label hash; the other inputs — features, deploys, extract.json —
// together the dataset hash). A feature schema other than this build's is
// ErrSchemaMismatch.
func applyTrain(nv *NewVersion, data []byte) error {
	tr, err := workdir.ParseTrain(data)
	if err != nil {
		return err
	}
	maps.Copy(nv.Thresholds, tr.Thresholds())
	if nv.Policy, err = json.Marshal(tr.Policy); err != nil {
		return err
	}
	if len(tr.Params) > 0 {
		nv.Params = tr.Params
	}
	if tr.SchemaVersion != "" && nv.FeatureSchema.Version != "" && tr.SchemaVersion != nv.FeatureSchema.Version {
		return fmt.Errorf("%w: trained on feature schema %s, this build's is %s", ErrSchemaMismatch, tr.SchemaVersion, nv.FeatureSchema.Version)
	}
	if tr.SchemaHash != "" && nv.FeatureSchema.Hash != "" && tr.SchemaHash != nv.FeatureSchema.Hash {
		return fmt.Errorf("%w: trained on feature schema hash %s, this build's is %s", ErrSchemaMismatch, tr.SchemaHash, nv.FeatureSchema.Hash)
	}
	if tr.LabelSource != "" {
		nv.Lineage.Source = tr.LabelSource
	}
	var parts []string
	for k, v := range tr.Inputs {
		if k == workdir.LabelsFile {
			nv.Lineage.LabelHash = firstNonEmpty(nv.Lineage.LabelHash, v)
		} else {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) > 0 {
		sort.Strings(parts)
		sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
		nv.Lineage.DatasetHash = firstNonEmpty(nv.Lineage.DatasetHash, "sha256:"+hex.EncodeToString(sum[:]))
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// report is the part of evaluation/metrics.json the registry reads.
type report struct {
	EvalSetHash string `json:"eval_set_hash"`
	Split       string `json:"split"`
	TestDeploys int    `json:"test_deploys"`
	Headline    string `json:"headline_reference"`
	Contenders  []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"contenders"`
	Results []struct {
		Contender string `json:"contender"`
		Reference string `json:"reference"`
		Scope     string `json:"scope"`
	} `json:"results"`
	Lineage struct {
		Inputs []struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"inputs"`
	} `json:"lineage"`
}

// MetricsFromReport extracts the metrics of one contender from an
// evaluation report (metrics.json). Values are named "SCOPE.METRIC" for the
// headline reference (e.g. "policy.recall", "policy.mttd_min",
// "h10.pr_auc") and "REFERENCE:SCOPE.METRIC" for every reference; an
// estimate contributes its value. The evaluation set hash is the report's
// eval_set_hash when it has one, else a SHA-256 over the split, the
// headline reference, the number of test deploys and the hashes of the
// input files that define the set and its labels (split.parquet,
// deploys.parquet, labels.parquet).
func MetricsFromReport(data []byte, contender string) (Metrics, error) {
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		return Metrics{}, err
	}
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Metrics{}, err
	}
	m := Metrics{EvalSetHash: rep.EvalSetHash, Values: map[string]float64{}}
	if m.EvalSetHash == "" {
		h := sha256.New()
		fmt.Fprintf(h, "split=%s\nreference=%s\ntest_deploys=%d\n", rep.Split, rep.Headline, rep.TestDeploys)
		var files []string
		for _, in := range rep.Lineage.Inputs {
			switch filepath.Base(in.Path) {
			case workdir.SplitFile, workdir.DeploysFile, workdir.LabelsFile:
				files = append(files, filepath.Base(in.Path)+"="+in.SHA256)
			}
		}
		sort.Strings(files)
		fmt.Fprintf(h, "%s\n", strings.Join(files, "\n"))
		m.EvalSetHash = "es-" + hex.EncodeToString(h.Sum(nil))[:16]
	}
	found := false
	for i, res := range rep.Results {
		if res.Contender != contender {
			continue
		}
		found = true
		for k, v := range raw.Results[i] {
			x, ok := scalar(v)
			if !ok || k == "horizon" {
				continue
			}
			name := res.Scope + "." + k
			m.Values[res.Reference+":"+name] = x
			if res.Reference == rep.Headline {
				m.Values[name] = x
			}
		}
	}
	if !found {
		return Metrics{}, fmt.Errorf("no results for contender %q", contender)
	}
	detail := struct {
		Contender string          `json:"contender"`
		Report    json.RawMessage `json:"report_excerpt"`
	}{contender, nil}
	var sel []map[string]json.RawMessage
	for i, res := range rep.Results {
		if res.Contender == contender {
			sel = append(sel, raw.Results[i])
		}
	}
	detail.Report, _ = json.Marshal(sel)
	m.Detail, _ = json.Marshal(detail)
	return m, nil
}

// scalar reads a number, or an estimate object's "value".
func scalar(raw json.RawMessage) (float64, bool) {
	if t := strings.TrimSpace(string(raw)); t == "null" || t == "" {
		return 0, false
	}
	var x float64
	if json.Unmarshal(raw, &x) == nil {
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	var e struct {
		Value *float64 `json:"value"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Value != nil {
		return *e.Value, true
	}
	return 0, false
}

// contenderVersion returns the version recorded for a contender in
// metrics.json.
func contenderVersion(data []byte, contender string) string {
	var rep report
	if json.Unmarshal(data, &rep) != nil {
		return ""
	}
	for _, c := range rep.Contenders {
		if c.Name == contender {
			return c.Version
		}
	}
	return ""
}
