package labeling

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// Input is what labeling reads.
type Input struct {
	// History is the deploy history. Labeling functions read deployments,
	// incidents, metrics and error signatures from it; they and the label
	// model never read annotations. The report compares them with the
	// annotations, and labels.parquet carries them in its gold column, for
	// training.
	History history.Reader
	// Workdir holds deploys.parquet (the deployments to label; all
	// deployments of the history when absent) and features_hH.parquet (for
	// the statistical ensemble), and receives the outputs.
	Workdir string
	// DSN is the PostgreSQL connection string of the history, for SQL
	// labeling functions; empty with the embedded store.
	DSN string
	// Progress reports progress; may be nil.
	Progress progress.Func
}

// Result is a labeling: the votes, the fitted model and its output.
type Result struct {
	// IDs are the labelled deployments, in row order.
	IDs []string
	// Votes is the vote matrix (one column per enabled function).
	Votes *labelmodel.Matrix
	// PFaulty and Label are the label model's posterior and hard label per row.
	PFaulty []float64
	Label   []int8
	Model   *labelmodel.Model
	// MajorityScore and MajorityLabel are the majority-vote reference.
	MajorityScore []float64
	MajorityLabel []int8
	// Gold is each row's human annotation (history.GoldLabels): 1 faulty,
	// 0 healthy, workdir.GoldNone without one. No vote and no posterior
	// reads it.
	Gold   []int8
	Report *Report
}

// Compute reads the history, computes every enabled labeling function's
// votes, fits the label model and builds the report. It writes nothing.
func Compute(ctx context.Context, cfg Config, in Input) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := preflightSQLFunctions(ctx, &cfg, in.DSN); err != nil {
		return nil, err
	}
	all, err := in.History.Deployments(ctx, history.Range{})
	if err != nil {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	targets, err := targetDeployments(in.Workdir, all)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("no deployments to label")
	}
	votes, err := builtinVotes(ctx, in, cfg.enabledBuiltins(), all, targets)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(targets))
	index := make(map[string]int, len(targets))
	for i, d := range targets {
		ids[i] = d.ID
		index[d.ID] = i
	}
	timeout := time.Duration(cfg.SQLTimeoutSeconds * float64(time.Second))
	sqlRes, err := runSQLFunctions(ctx, &cfg, in.DSN, timeout, index, len(ids))
	if err != nil {
		return nil, err
	}
	prog := progress.Or(in.Progress)
	m := &labelmodel.Matrix{}
	for _, name := range cfg.enabledNames() {
		col, ok := votes[name]
		if !ok {
			col = sqlRes[name].votes
		}
		m.Names = append(m.Names, name)
		m.Cols = append(m.Cols, col)
	}
	prog("label model", 0, 1)
	mcfg := cfg.Model
	mcfg.Groups = enabledGroups(mcfg.Groups, m.Names)
	mod, err := labelmodel.Fit(m, mcfg)
	if err != nil {
		return nil, fmt.Errorf("fit label model: %w", err)
	}
	p, lab, err := mod.Predict(m)
	if err != nil {
		return nil, fmt.Errorf("label model: %w", err)
	}
	prog("label model", 1, 1)
	mvScore, mvLab := labelmodel.MajorityVote(m)
	res := &Result{IDs: ids, Votes: m, PFaulty: p, Label: lab, Model: mod, MajorityScore: mvScore, MajorityLabel: mvLab}
	anns, err := in.History.Annotations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	gold, annRows, summary := annotatedRows(ids, history.GoldVerdicts(anns))
	res.Gold = gold
	res.Report = buildReport(&cfg, res, annRows, summary, sqlRes)
	return res, nil
}

// targetDeployments returns the deployments listed in dir's
// deploys.parquet, in file order, or all deployments when there is none.
func targetDeployments(dir string, all []history.Deployment) ([]history.Deployment, error) {
	path := filepath.Join(dir, workdir.DeploysFile)
	ids, err := readDeployIDs(path)
	if errors.Is(err, fs.ErrNotExist) {
		return all, nil
	}
	if err != nil {
		return nil, err
	}
	byID := make(map[string]history.Deployment, len(all))
	for _, d := range all {
		byID[d.ID] = d
	}
	out := make([]history.Deployment, len(ids))
	for i, id := range ids {
		d, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("%s: row %d: deployment %s is not in the history", path, i+1, id)
		}
		out[i] = d
	}
	return out, nil
}

// Write writes labels.parquet and lf_report.json into dir.
func (r *Result) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	if err := writeLabels(filepath.Join(dir, workdir.LabelsFile), r.IDs, r.Votes, r.PFaulty, r.Label, r.Gold); err != nil {
		return err
	}
	return workdir.WriteLFReport(filepath.Join(dir, workdir.LFReportFile), r.Report)
}

// Run computes the labels and writes them into in.Workdir.
func Run(ctx context.Context, cfg Config, in Input) (*Result, error) {
	res, err := Compute(ctx, cfg, in)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(in.Workdir, 0o755); err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	if err := res.Write(in.Workdir); err != nil {
		return nil, err
	}
	return res, nil
}

// enabledGroups drops disabled functions from the declared groups, and
// groups left with fewer than two functions.
func enabledGroups(groups [][]string, enabled []string) [][]string {
	on := map[string]bool{}
	for _, n := range enabled {
		on[n] = true
	}
	var out [][]string
	for _, g := range groups {
		var kept []string
		for _, n := range g {
			if on[n] {
				kept = append(kept, n)
			}
		}
		if len(kept) > 1 {
			out = append(out, kept)
		}
	}
	return out
}
