package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/atomicfile"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
)

// TruthFile is where WriteFiles puts the ground truth, relative to its
// folder: in a subfolder, which 'faultline import' does not read, so that
// the folder holds import files only (any other file there is an error).
var TruthFile = filepath.Join("truth", "truth.csv")

// FileNames lists the files WriteFiles may produce, relative to its folder:
// the import files of docs/history-import.md, plus TruthFile (never
// imported). OutputFiles says which of them a configuration writes.
var FileNames = []string{"services.csv", "deployments.csv", "metrics.csv", "error_signatures.csv", "kpis.csv", "kpi_values.csv", "incidents.csv", "annotations.csv", TruthFile}

// OutputFiles lists the files WriteFiles writes for cfg, in the order of
// FileNames: error_signatures.csv only with Signatures, kpis.csv and
// kpi_values.csv only with KPIs.
func OutputFiles(cfg Config) []string {
	var out []string
	for _, n := range FileNames {
		switch {
		case n == "error_signatures.csv" && !cfg.Signatures:
		case (n == "kpis.csv" || n == "kpi_values.csv") && !cfg.KPIs:
		default:
			out = append(out, n)
		}
	}
	return out
}

// WriteFiles simulates the fleet described by cfg as import files (CSV) in
// dir, plus the ground truth in dir/TruthFile. Each file is written under a
// temporary name and renamed when all are complete.
func WriteFiles(ctx context.Context, cfg Config, dir string) (Summary, error) {
	return WriteFilesProgress(ctx, cfg, dir, nil)
}

// WriteFilesProgress is WriteFiles reporting progress to p.
func WriteFilesProgress(ctx context.Context, cfg Config, dir string, p progress.Func) (Summary, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("simulate: %w", err)
	}
	fs := &fileSink{dir: dir, w: map[string]*csvFile{}, kpiTruth: cfg.kpiFaults()}
	headers := map[string]string{
		"services.csv":         "service,team,tier",
		"deployments.csv":      "deployment_id,service,environment,version,started_at,finished_at,commit_sha,author,files_changed,lines_added,lines_deleted,kind",
		"metrics.csv":          "service,environment,version,minute,requests,errors,latency_p50_ms,latency_p95_ms,latency_p99_ms",
		"error_signatures.csv": "service,environment,version,minute,fingerprint,count,error_type,endpoint,status_code",
		"kpis.csv":             "service,environment,name,direction,kind,unit",
		"kpi_values.csv":       "service,environment,version,minute,name,value",
		"incidents.csv":        "incident_id,service,environment,opened_at,resolved_at,severity,deployment_id",
		"annotations.csv":      "deployment_id,label,annotator,annotated_at,note",
		TruthFile:              "deployment_id,faulty,shape,onset_minute,confounders,severity",
	}
	if fs.kpiTruth { // truth of shift and burst faults names the KPI and the direction
		headers[TruthFile] += ",kpi,direction"
	}
	for _, name := range OutputFiles(cfg) {
		f, err := newCSVFile(dir, name, headers[name])
		if err != nil {
			fs.abort()
			return Summary{}, err
		}
		fs.w[name] = f
	}
	sum, err := generate(ctx, cfg, fs, p)
	if err != nil {
		fs.abort()
		return sum, err
	}
	if err := fs.commit(); err != nil {
		return sum, err
	}
	return sum, nil
}

type csvFile struct {
	final string
	f     *atomicfile.File
	w     *bufio.Writer
	b     []byte
}

func newCSVFile(dir, name, header string) (*csvFile, error) {
	final := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil { // TruthFile's subfolder
		return nil, fmt.Errorf("simulate: %w", err)
	}
	f, err := atomicfile.Create(final)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	c := &csvFile{final: final, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	c.w.WriteString(header + "\n")
	return c, nil
}

// Field appenders; each line is built in c.b and written at once.
func (c *csvFile) str(s string) {
	if strings.ContainsAny(s, ",\"\n\r") {
		c.b = append(c.b, '"')
		c.b = append(c.b, strings.ReplaceAll(s, `"`, `""`)...)
		c.b = append(c.b, '"')
	} else {
		c.b = append(c.b, s...)
	}
	c.b = append(c.b, ',')
}
func (c *csvFile) int(v int64) { c.b = strconv.AppendInt(c.b, v, 10); c.b = append(c.b, ',') }
func (c *csvFile) optInt(v int64) {
	if v >= 0 {
		c.b = strconv.AppendInt(c.b, v, 10)
	}
	c.b = append(c.b, ',')
}
func (c *csvFile) float(v float64) {
	c.b = strconv.AppendFloat(c.b, v, 'f', -1, 64)
	c.b = append(c.b, ',')
}
func (c *csvFile) time(t time.Time) {
	if !t.IsZero() {
		c.b = t.UTC().AppendFormat(c.b, time.RFC3339)
	}
	c.b = append(c.b, ',')
}
func (c *csvFile) end() error {
	c.b[len(c.b)-1] = '\n'
	_, err := c.w.Write(c.b)
	c.b = c.b[:0]
	return err
}

type fileSink struct {
	dir      string
	w        map[string]*csvFile
	err      error
	kpiTruth bool // the truth file has the columns kpi and direction
}

func (s *fileSink) kpis(ctx context.Context, rows []history.KPI) error {
	c := s.w["kpis.csv"]
	for _, k := range rows {
		c.str(k.Service)
		c.str(k.Environment)
		c.str(k.Name)
		c.str(string(k.Direction))
		c.str(string(k.Kind))
		c.str(k.Unit)
		if err := c.end(); err != nil {
			return fmt.Errorf("simulate: write %s: %w", c.final, err)
		}
	}
	return nil
}

func (s *fileSink) services(ctx context.Context, rows []history.Service) error {
	c := s.w["services.csv"]
	for _, r := range rows {
		c.str(r.Name)
		c.str(r.Team)
		c.str(r.Tier)
		if err := c.end(); err != nil {
			return fmt.Errorf("simulate: write %s: %w", c.final, err)
		}
	}
	return nil
}

func (s *fileSink) stream(ctx context.Context, res *streamResult) error {
	c := s.w["deployments.csv"]
	for _, d := range res.deployments {
		c.str(d.ID)
		c.str(d.Service)
		c.str(d.Environment)
		c.str(d.Version)
		c.time(d.StartedAt)
		c.time(d.FinishedAt)
		c.str(d.CommitSHA)
		c.str(d.Author)
		c.optInt(d.FilesChanged)
		c.optInt(d.LinesAdded)
		c.optInt(d.LinesDeleted)
		c.str(string(d.Kind))
		c.end()
	}
	c = s.w["metrics.csv"]
	for i := range res.metrics {
		m := &res.metrics[i]
		c.str(m.Service)
		c.str(m.Environment)
		c.str(m.Version)
		c.time(m.Minute)
		c.float(m.Requests)
		c.float(m.Errors)
		c.float(m.LatencyP50)
		c.float(m.LatencyP95)
		c.float(m.LatencyP99)
		c.end()
	}
	if c := s.w["error_signatures.csv"]; c != nil {
		for i := range res.signatures {
			g := &res.signatures[i]
			c.str(g.Service)
			c.str(g.Environment)
			c.str(g.Version)
			c.time(g.Minute)
			c.str(g.Fingerprint)
			c.int(g.Count)
			c.str(g.ErrorType)
			c.str(g.Endpoint)
			c.int(int64(g.StatusCode))
			c.end()
		}
	}
	if c := s.w["kpi_values.csv"]; c != nil {
		for i := range res.kpiValues {
			v := &res.kpiValues[i]
			c.str(v.Service)
			c.str(v.Environment)
			c.str(v.Version)
			c.time(v.Minute)
			c.str(v.Name)
			c.float(v.Value)
			c.end()
		}
	}
	s.incidents(res.incidents)
	c = s.w["annotations.csv"]
	for _, a := range res.annotations {
		c.str(a.DeploymentID)
		c.str(a.Label)
		c.str(a.Annotator)
		c.time(a.AnnotatedAt)
		c.str(a.Note)
		c.end()
	}
	c = s.w[TruthFile]
	for _, t := range res.truth {
		c.str(t.DeploymentID)
		c.str(strconv.FormatBool(t.Faulty))
		c.str(t.Shape)
		c.int(t.OnsetMinute)
		c.str(t.Confounders)
		c.float(t.Severity)
		if s.kpiTruth {
			c.str(t.KPI)
			c.str(t.Direction)
		}
		if err := c.end(); err != nil {
			return fmt.Errorf("simulate: write %s: %w", c.final, err)
		}
	}
	return ctx.Err()
}

func (s *fileSink) incidents(rows []history.Incident) {
	c := s.w["incidents.csv"]
	for _, in := range rows {
		c.str(in.ID)
		c.str(in.Service)
		c.str(in.Environment)
		c.time(in.OpenedAt)
		c.time(in.ResolvedAt)
		c.str(in.Severity)
		c.str(in.DeploymentID)
		c.end()
	}
}

func (s *fileSink) finish(ctx context.Context, incidents []history.Incident) error {
	s.incidents(incidents)
	return nil
}

// commit flushes every file, then syncs and renames each into place.
func (s *fileSink) commit() error {
	var errs []error
	for _, c := range s.w {
		if err := c.w.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.abort()
		return fmt.Errorf("simulate: write files: %w", err)
	}
	for _, name := range FileNames {
		if c := s.w[name]; c != nil {
			if err := c.f.Commit(); err != nil {
				s.abort()
				return fmt.Errorf("simulate: %w", err)
			}
		}
	}
	return nil
}

// abort removes the files not yet committed.
func (s *fileSink) abort() {
	for _, c := range s.w {
		c.f.Abort()
	}
}
