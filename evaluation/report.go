package evaluation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// ReportSchemaVersion is the version of metrics.json; bumped when a field
// is renamed or removed.
const ReportSchemaVersion = 1

// Report is the outcome of an evaluation; metrics.json is its JSON form.
type Report struct {
	SchemaVersion   int    `json:"schema_version"`
	GeneratedAt     string `json:"generated_at"`
	Split           string `json:"split"`
	TestDeploys     int    `json:"test_deploys"`
	Horizons        []int  `json:"horizons"`
	BaselineMinutes int    `json:"baseline_minutes"`
	// Headline names the reference of the headline table.
	Headline      string          `json:"headline_reference"`
	Simulated     bool            `json:"simulated"`
	References    []Reference     `json:"references"`
	Contenders    []ContenderInfo `json:"contenders"`
	Results       []Result        `json:"results"`
	Disagreements []Disagreement  `json:"disagreements"`
	Queue         *QueueInfo      `json:"queue,omitempty"`
	Calibration   []Calibration   `json:"calibration"`
	// Targets states each model contender's operating target and whether
	// it is met (from train.json, and on the held-out deploys).
	Targets []TargetReport `json:"targets,omitempty"`
	// ModelCalibration holds the model contenders' calibrators and their
	// reliability on validation (from train.json).
	ModelCalibration []ModelCalibration `json:"model_calibration,omitempty"`
	LF               *LFReport          `json:"lf_report,omitempty"`
	Notes            []string           `json:"notes,omitempty"`
	Lineage          Lineage            `json:"lineage"`
	Outputs          map[string]string  `json:"-"`

	cfg        Config
	in         *Inputs
	ids        []string
	contenders []*Contender
	refs       []*Reference
	gold       map[string]bool
	truth      map[string]history.Truth
	candidates []*Candidate // disagreements without gold, ranked
	annotated  []*Candidate // disagreements with gold, ranked
}

// ContenderInfo describes a contender in metrics.json.
type ContenderInfo struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Source      string             `json:"source"`
	Version     string             `json:"version,omitempty"`
	Horizons    []int              `json:"horizons"`
	Thresholds  map[string]float64 `json:"thresholds,omitempty"`
}

// QueueInfo records the annotation queue written with the report.
type QueueInfo struct {
	Path       string `json:"path"`
	Rows       int    `json:"rows"`
	Candidates int    `json:"candidates"`
}

// Lineage says what the evaluation read.
type Lineage struct {
	// Workdir is the folder read. It is left out of the written files so
	// that the same inputs give byte-identical outputs in any folder.
	Workdir     string         `json:"-"`
	Inputs      []InputFile    `json:"inputs"`
	Models      []ModelLineage `json:"models"`
	Store       string         `json:"store,omitempty"`
	CodeVersion string         `json:"code_version,omitempty"`
	Config      string         `json:"config,omitempty"`
}

// ModelLineage identifies the models of a contender.
type ModelLineage struct {
	Contender  string             `json:"contender"`
	Source     string             `json:"source"`
	Version    string             `json:"version"`
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
	Files      []InputFile        `json:"files"`
}

// Result returns the result of contender against reference at scope
// ("policy" or "hH").
func (rep *Report) Result(contender, reference, scope string) (Result, bool) {
	for _, r := range rep.Results {
		if r.Contender == contender && r.Reference == reference && r.Scope == scope {
			return r, true
		}
	}
	return Result{}, false
}

// HeadlineRow is one line of the headline table.
type HeadlineRow struct {
	Contender string
	Policy    Result
	PRAUC     Float // at the baseline horizon
}

// HeadlineRows returns the policy results of every contender against ref.
func (rep *Report) HeadlineRows(ref string) []HeadlineRow {
	var out []HeadlineRow
	for _, c := range rep.contenders {
		r, ok := rep.Result(c.Name, ref, "policy")
		if !ok {
			continue
		}
		row := HeadlineRow{Contender: c.Name, Policy: r, PRAUC: Float(math.NaN())}
		if h, ok := rep.Result(c.Name, ref, fmt.Sprintf("h%d", rep.BaselineMinutes)); ok {
			row.PRAUC = h.PRAUC
		}
		out = append(out, row)
	}
	return out
}

// Reference returns the named reference.
func (rep *Report) Reference(name string) (Reference, bool) {
	for _, r := range rep.References {
		if r.Name == name {
			return r, true
		}
	}
	return Reference{}, false
}

// Calibration is the reliability of the label model's p_faulty against a
// reference, over every labeled deploy (not only held-out ones).
type Calibration struct {
	Reference string   `json:"reference"`
	Deploys   int      `json:"deploys"`
	Brier     Float    `json:"brier"`
	Bins      []CalBin `json:"bins"`
}

// CalBin is one bin of a reliability diagram.
type CalBin struct {
	Lo     float64          `json:"lo"`
	Hi     float64          `json:"hi"`
	MeanP  Float            `json:"mean_p"`
	Faulty metrics.Estimate `json:"faulty"`
}

func calibrations(rep *Report, bins int) []Calibration {
	if rep.in.Labels == nil {
		return nil
	}
	var out []Calibration
	sources := []struct {
		name string
		y    map[string]bool
	}{{RefGold, rep.gold}}
	if rep.truth != nil {
		ty := make(map[string]bool, len(rep.truth))
		for id, t := range rep.truth {
			ty[id] = t.Faulty
		}
		sources = append(sources, struct {
			name string
			y    map[string]bool
		}{RefTruth, ty})
	}
	for _, src := range sources {
		cal := Calibration{Reference: src.name}
		k := make([]int, bins)
		n := make([]int, bins)
		sp := make([]float64, bins)
		brier := 0.0
		ids := make([]string, 0, len(rep.in.Labels))
		for id := range rep.in.Labels {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			l := rep.in.Labels[id]
			y, ok := src.y[id]
			if !ok || math.IsNaN(l.PFaulty) {
				continue
			}
			b := int(l.PFaulty * float64(bins))
			b = max(0, min(bins-1, b))
			n[b]++
			sp[b] += l.PFaulty
			yf := 0.0
			if y {
				k[b]++
				yf = 1
			}
			brier += (l.PFaulty - yf) * (l.PFaulty - yf)
			cal.Deploys++
		}
		if cal.Deploys == 0 {
			continue
		}
		cal.Brier = Float(brier / float64(cal.Deploys))
		for b := 0; b < bins; b++ {
			mp := math.NaN()
			if n[b] > 0 {
				mp = sp[b] / float64(n[b])
			}
			cal.Bins = append(cal.Bins, CalBin{Lo: metrics.Round6(float64(b) / float64(bins)), Hi: metrics.Round6(float64(b+1) / float64(bins)), MeanP: Float(mp), Faulty: metrics.Proportion(k[b], n[b])})
		}
		out = append(out, cal)
	}
	return out
}

// LFReport is what the report shows of lf_report.json.
type LFReport struct {
	Functions []LFRow         `json:"functions"`
	Raw       json.RawMessage `json:"raw"`
}

// LFRow is one labeling function's diagnostics (NaN where not reported).
// EmpiricalAccuracy is lf_report.json's, against annotations; TruthAccuracy
// is computed here from the lf_ columns of labels.parquet against the
// simulator's truth, with its count.
type LFRow struct {
	Name              string           `json:"name"`
	Coverage          Float            `json:"coverage"`
	Overlap           Float            `json:"overlap"`
	Conflict          Float            `json:"conflict"`
	EstimatedAccuracy Float            `json:"estimated_accuracy"`
	EmpiricalAccuracy Float            `json:"empirical_accuracy"`
	TruthAccuracy     metrics.Estimate `json:"truth_accuracy"`
	// Its faulty votes cast alone (no other faulty, no healthy vote):
	// how many, the label model's mean p_faulty over them, the share of
	// the annotated ones annotated faulty (lf_report.json), and the share
	// faulty by the simulator's truth (computed here).
	Lone          int              `json:"lone"`
	LonePFaulty   Float            `json:"lone_p_faulty"`
	LoneAnnotated metrics.Estimate `json:"lone_annotated_faulty"`
	LoneTruth     metrics.Estimate `json:"lone_truth_faulty"`
}

// lfReport is what the report shows of lf_report.json: raw is the file as
// read, lf its reading by workdir.ParseLFReport; nil when there is no file.
func lfReport(raw json.RawMessage, lf *workdir.LFReport) *LFReport {
	if lf == nil {
		return nil
	}
	rep := &LFReport{Raw: raw}
	for _, f := range lf.Functions {
		empirical := Float(math.NaN())
		if f.Empirical != nil {
			empirical = Float(f.Empirical.Accuracy)
		}
		row := LFRow{
			Name:              f.Name,
			Coverage:          Float(f.Coverage),
			Overlap:           Float(f.Overlap),
			Conflict:          Float(f.Conflict),
			EstimatedAccuracy: Float(f.Estimated.Accuracy),
			EmpiricalAccuracy: empirical,
			TruthAccuracy:     metrics.Proportion(0, 0),
			LonePFaulty:       Float(math.NaN()),
			LoneAnnotated:     metrics.Proportion(0, 0),
			LoneTruth:         metrics.Proportion(0, 0),
		}
		if l := f.Lone; l != nil {
			row.Lone, row.LonePFaulty = l.Deployments, Float(l.PFaulty)
			row.LoneAnnotated = metrics.Proportion(l.AnnotatedFaulty, l.Annotated)
		}
		rep.Functions = append(rep.Functions, row)
	}
	return rep
}

// lfTruthAccuracy fills TruthAccuracy of each function from its votes in
// labels.parquet: the share of its non-abstaining votes that match the
// simulator's truth; and LoneTruth: the share faulty of the deployments on
// which it alone voted faulty. Functions absent from the report are added.
func (rep *Report) lfTruthAccuracy() {
	if rep.truth == nil || rep.in.Labels == nil || len(rep.in.LFNames) == 0 {
		return
	}
	if rep.LF == nil {
		rep.LF = &LFReport{}
	}
	idx := map[string]int{}
	for i, f := range rep.LF.Functions {
		idx[f.Name] = i
	}
	for j, name := range rep.in.LFNames {
		short := strings.TrimPrefix(name, "lf_")
		k, n, lk, ln := 0, 0, 0, 0
		for id, l := range rep.in.Labels {
			t, ok := rep.truth[id]
			if !ok || j >= len(l.Votes) || l.Votes[j] < 0 {
				continue
			}
			n++
			if (l.Votes[j] == 1) == t.Faulty {
				k++
			}
			if f, lone := workdir.LoneFaulty(len(l.Votes), func(f int) int8 { return l.Votes[f] }); lone && f == j {
				ln++
				if t.Faulty {
					lk++
				}
			}
		}
		i, ok := idx[short]
		if !ok {
			rep.LF.Functions = append(rep.LF.Functions, LFRow{Name: short, Coverage: Float(math.NaN()), Overlap: Float(math.NaN()), Conflict: Float(math.NaN()),
				EstimatedAccuracy: Float(math.NaN()), EmpiricalAccuracy: Float(math.NaN()), LonePFaulty: Float(math.NaN()), LoneAnnotated: metrics.Proportion(0, 0)})
			i = len(rep.LF.Functions) - 1
		}
		rep.LF.Functions[i].TruthAccuracy = metrics.Proportion(k, n)
		rep.LF.Functions[i].LoneTruth = metrics.Proportion(lk, ln)
	}
}

// Write writes metrics.json, summary.md and report.html to dir (created
// when absent; workdir.EvaluationDir in a work directory), each through a
// temporary file and a rename. It returns the paths written by name
// (workdir.MetricsFile, workdir.SummaryFile, workdir.ReportFile).
func (rep *Report) Write(dir string) (map[string]string, error) {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode metrics.json: %w", err)
	}
	var html bytes.Buffer
	if err := rep.renderHTML(&html); err != nil {
		return nil, fmt.Errorf("render report.html: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	out := map[string]string{}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{workdir.MetricsFile, append(js, '\n')},
		{workdir.SummaryFile, []byte(rep.Markdown())},
		{workdir.ReportFile, html.Bytes()},
	} {
		p := filepath.Join(dir, f.name)
		if err := atomicfile.WriteFile(p, f.data, 0o644); err != nil {
			return nil, err
		}
		out[f.name] = p
	}
	rep.Outputs = out
	return out, nil
}

// Contender returns the named contender, or nil.
func (rep *Report) Contender(name string) *Contender {
	for _, c := range rep.contenders {
		if c.Name == name {
			return c
		}
	}
	return nil
}
