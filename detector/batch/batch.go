// Package batch scores historical deployments with a detector bundle, as a
// detector would have seen them: `faultline predict` (every deploy in a
// range) and `faultline check` (one deploy, for CD pipelines).
//
// Features come from features/extract — the offline extractor that feeds
// training and evaluation — run over the history store with the bundle's
// feature settings (extract.Extract: the same computation as extract.Run,
// rows kept in memory), so that predict's p_H equal what evaluation
// computes from features_hH.parquet for the same model and deploys. The
// extractor reads only the environments of the selected deploys, over the
// minutes their windows need, so check and a short predict range cost in
// proportion to what they score.
package batch

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/detector"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/features/extract"
	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/parallel"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// Row is one scored deployment: a row of the predictions file
// (../shared/spec/outputs.md).
type Row struct {
	DeploymentID string
	Service      string
	Environment  string
	StartedAt    time.Time
	// P maps a horizon to P(faulty); NaN when fewer than H minutes of data
	// follow the deploy.
	P          map[int]float64
	Verdict    string
	DetectedAt int // 0 when not flagged
	// Result is the detector's full decision (scores and reasons).
	Result       *detector.Result
	ModelVersion string
}

// Options control Predict.
type Options struct {
	// Range selects deployments by start time.
	Range history.Range
	// Scratch is the folder where the extractor may spill feature vectors
	// of a large selection to a temporary file, removed afterwards
	// (default os.TempDir()). Small selections stay in memory.
	Scratch string
	// Workers is passed to the extractor (0: GOMAXPROCS).
	Workers  int
	Progress progress.Func
}

// Predict scores every deployment of r that started in opts.Range.
func Predict(ctx context.Context, r history.Reader, d *detector.Detector, opts Options) ([]Row, error) {
	cfg := d.FeatureConfig()
	if err := checkHorizons(d, "predict"); err != nil {
		return nil, err
	}
	return predict(ctx, r, d, predictExtractOptions(cfg, opts), opts.Scratch)
}

// predictExtractOptions are the extractor's options for Predict.
func predictExtractOptions(cfg features.Config, opts Options) extract.Options {
	return extract.Options{Range: opts.Range, Config: cfg, Workers: opts.Workers, Progress: opts.Progress}
}

// checkExtractOptions are the extractor's options for Check of dep: that
// deploy alone.
func checkExtractOptions(dep history.Deployment, cfg features.Config, opts Options) extract.Options {
	return extract.Options{
		Range:  history.Range{From: dep.StartedAt, Until: dep.StartedAt.Add(time.Millisecond)},
		IDs:    []string{dep.ID},
		Config: cfg, Workers: opts.Workers, Progress: opts.Progress,
	}
}

// checkHorizons fails when the model has a horizon its feature settings do
// not compute.
func checkHorizons(d *detector.Detector, op string) error {
	cfg := d.FeatureConfig()
	for _, h := range d.Horizons() {
		if !slices.Contains(cfg.Horizons, h) {
			return fmt.Errorf("%s: the model has a %d-minute horizon that its feature settings (horizons %v) do not compute", op, h, cfg.Horizons)
		}
	}
	return nil
}

// predict extracts the deploys selected by xo in memory and scores them.
func predict(ctx context.Context, r history.Reader, d *detector.Detector, xo extract.Options, scratch string) ([]Row, error) {
	f, err := extractFeatures(ctx, r, xo, scratch)
	if err != nil {
		return nil, err
	}
	return f.Score(ctx, d)
}

// score scores deps with the feature rows of each horizon (by deploy id),
// with reasons or without (Features.Score), on GOMAXPROCS goroutines (a
// Detector is safe for concurrent use); the rows come back in the order
// of deps.
func score(ctx context.Context, deps []workdir.DeployRow, rows map[int]map[string][]float64, d *detector.Detector, reasons bool) ([]Row, error) {
	version := strconv.Itoa(d.Manifest().Version)
	out := make([]Row, len(deps))
	err := parallel.Do(len(deps), 0, func(_, i int) error {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return scoreOne(&out[i], deps[i], rows, d, reasons, version)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scoreOne decides deploy dep into row.
func scoreOne(row *Row, dep workdir.DeployRow, rows map[int]map[string][]float64, d *detector.Detector, reasons bool, version string) error {
	byH := map[int][]float64{}
	for h, m := range rows {
		if r, ok := m[dep.DeploymentID]; ok {
			byH[h] = r
		}
	}
	decide := d.DecideWithoutReasons
	if reasons {
		decide = d.Decide
	}
	res, err := decide(byH)
	if err != nil {
		return fmt.Errorf("predict %s: %w", dep.DeploymentID, err)
	}
	*row = Row{DeploymentID: dep.DeploymentID, Service: dep.Service, Environment: dep.Environment, StartedAt: dep.StartedAt.UTC(),
		P: map[int]float64{}, Verdict: res.Verdict, DetectedAt: res.DetectedAt, Result: res, ModelVersion: version}
	for _, h := range d.Horizons() {
		row.P[h] = math.NaN()
	}
	for _, s := range res.Scores {
		row.P[s.Horizon] = s.P
	}
	// Decide stops scoring at the flagging horizon; later horizons are
	// still reported, as a detector would have seen them.
	for h, r := range byH {
		if math.IsNaN(row.P[h]) {
			p, err := d.Predict(h, r)
			if err != nil {
				return err
			}
			row.P[h] = p
		}
	}
	return nil
}

// ErrNoDeployment is returned by Check for an unknown deployment id.
var ErrNoDeployment = errors.New("no such deployment")

// DeploymentFinder is implemented by history readers that can look one
// deployment up by id without listing the others. Check uses it when the
// reader has it.
type DeploymentFinder interface {
	// DeploymentByID returns the deployment with the id; ok is false when
	// there is none.
	DeploymentByID(ctx context.Context, id string) (dep history.Deployment, ok bool, err error)
}

// findDeployment looks a deployment up by id within rng: through
// DeploymentFinder when r has it, else by listing the deployments of rng.
func findDeployment(ctx context.Context, r history.Reader, id string, rng history.Range) (*history.Deployment, error) {
	if f, ok := r.(DeploymentFinder); ok {
		dep, ok, err := f.DeploymentByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("check: find deployment %q: %w", id, err)
		}
		if !ok || !rng.Contains(dep.StartedAt) {
			return nil, nil
		}
		return &dep, nil
	}
	deps, err := r.Deployments(ctx, rng)
	if err != nil {
		return nil, fmt.Errorf("check: read deployments: %w", err)
	}
	for i := range deps {
		if deps[i].ID == id {
			return &deps[i], nil
		}
	}
	return nil, nil
}

// Check scores one deployment by id with the data the store holds now. Only
// that deploy is extracted (with its stream neighbours and its
// environment's fleet over the minutes its windows read).
func Check(ctx context.Context, r history.Reader, d *detector.Detector, id string, opts Options) (*Row, error) {
	cfg := d.FeatureConfig()
	if err := checkHorizons(d, "check"); err != nil {
		return nil, err
	}
	f, err := checkFeatures(ctx, r, cfg, id, opts)
	if err != nil {
		return nil, err
	}
	rows, err := f.ScoreWithReasons(ctx, d)
	if err != nil {
		return nil, err
	}
	return pick(rows, id)
}

// checkFeatures extracts deployment id alone with feature settings cfg.
func checkFeatures(ctx context.Context, r history.Reader, cfg features.Config, id string, opts Options) (*Features, error) {
	dep, err := findDeployment(ctx, r, id, opts.Range)
	if err != nil {
		return nil, err
	}
	if dep == nil {
		return nil, fmt.Errorf("check: deployment %q: %w", id, ErrNoDeployment)
	}
	return extractFeatures(ctx, r, checkExtractOptions(*dep, cfg, opts), opts.Scratch)
}

// pick returns the row of deployment id.
func pick(rows []Row, id string) (*Row, error) {
	for i := range rows {
		if rows[i].DeploymentID == id {
			return &rows[i], nil
		}
	}
	return nil, fmt.Errorf("check: deployment %q was not extracted: %w", id, ErrNoDeployment)
}

// Columns returns the predictions file's columns for horizons hs.
func Columns(hs []int) []string {
	cols := []string{"deployment_id", "service", "environment", "started_at"}
	for _, h := range hs {
		cols = append(cols, fmt.Sprintf("p_%d", h))
	}
	return append(cols, "verdict", "detected_at_min", "model_version")
}

// Write writes rows to path as CSV or Parquet, by its extension (.csv or
// .parquet), through a temporary file renamed into place.
func Write(path string, hs []int, rows []Row) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".csv" && ext != ".parquet" {
		return fmt.Errorf("%s: the output must end in .csv or .parquet", path)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if ext == ".csv" {
			return writeCSV(w, hs, rows)
		}
		return writeParquet(w, hs, rows)
	})
}

func writeCSV(f io.Writer, hs []int, rows []Row) error {
	w := csv.NewWriter(f)
	if err := w.Write(Columns(hs)); err != nil {
		return err
	}
	rec := make([]string, 0, 7+len(hs))
	for _, r := range rows {
		rec = append(rec[:0], r.DeploymentID, r.Service, r.Environment, r.StartedAt.UTC().Format(time.RFC3339))
		for _, h := range hs {
			p := r.P[h]
			if math.IsNaN(p) {
				rec = append(rec, "")
			} else {
				rec = append(rec, strconv.FormatFloat(p, 'g', -1, 64))
			}
		}
		det := ""
		if r.DetectedAt > 0 {
			det = strconv.Itoa(r.DetectedAt)
		}
		rec = append(rec, r.Verdict, det, r.ModelVersion)
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// predictionType builds the Parquet row type at run time so that the
// columns keep the documented order (a parquet.Group would sort them).
func predictionType(hs []int) reflect.Type {
	fields := []reflect.StructField{
		{Name: "DeploymentID", Type: reflect.TypeFor[string](), Tag: `parquet:"deployment_id"`},
		{Name: "Service", Type: reflect.TypeFor[string](), Tag: `parquet:"service"`},
		{Name: "Environment", Type: reflect.TypeFor[string](), Tag: `parquet:"environment"`},
		{Name: "StartedAt", Type: reflect.TypeFor[time.Time](), Tag: `parquet:"started_at,timestamp(millisecond)"`},
	}
	for i, h := range hs {
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("P%d", i), Type: reflect.TypeFor[*float64](),
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:"p_%d,optional"`, h))})
	}
	fields = append(fields,
		reflect.StructField{Name: "Verdict", Type: reflect.TypeFor[string](), Tag: `parquet:"verdict"`},
		reflect.StructField{Name: "DetectedAt", Type: reflect.TypeFor[*int32](), Tag: `parquet:"detected_at_min,optional"`},
		reflect.StructField{Name: "ModelVersion", Type: reflect.TypeFor[string](), Tag: `parquet:"model_version"`},
	)
	return reflect.StructOf(fields)
}

func writeParquet(f io.Writer, hs []int, rows []Row) error {
	typ := predictionType(hs)
	schema := parquet.SchemaOf(reflect.New(typ).Elem().Interface())
	w := parquet.NewWriter(f, schema, parquet.Compression(&parquet.Zstd))
	for _, r := range rows {
		v := reflect.New(typ).Elem()
		v.Field(0).SetString(r.DeploymentID)
		v.Field(1).SetString(r.Service)
		v.Field(2).SetString(r.Environment)
		v.Field(3).Set(reflect.ValueOf(r.StartedAt.UTC()))
		for i, h := range hs {
			if p := r.P[h]; !math.IsNaN(p) {
				v.Field(4 + i).Set(reflect.ValueOf(&p))
			}
		}
		n := 4 + len(hs)
		v.Field(n).SetString(r.Verdict)
		if r.DetectedAt > 0 {
			d := int32(r.DetectedAt)
			v.Field(n + 1).Set(reflect.ValueOf(&d))
		}
		v.Field(n + 2).SetString(r.ModelVersion)
		if err := w.Write(v.Addr().Interface()); err != nil {
			return err
		}
	}
	return w.Close()
}
