package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/internal/history"
)

// Parquet row types of the tables. Column names follow the import format
// (../shared/spec/history-import.md); docs/embedded-store.md lists them.

type serviceRow struct {
	Service string `parquet:"service"`
	Team    string `parquet:"team"`
	Tier    string `parquet:"tier"`
}

type deploymentRow struct {
	ID           string     `parquet:"deployment_id"`
	Service      string     `parquet:"service,dict"`
	Environment  string     `parquet:"environment,dict"`
	Version      string     `parquet:"version"`
	StartedAt    time.Time  `parquet:"started_at,timestamp(microsecond)"`
	FinishedAt   *time.Time `parquet:"finished_at,optional,timestamp(microsecond)"`
	CommitSHA    string     `parquet:"commit_sha"`
	Author       string     `parquet:"author,dict"`
	FilesChanged int64      `parquet:"files_changed"`
	LinesAdded   int64      `parquet:"lines_added"`
	LinesDeleted int64      `parquet:"lines_deleted"`
	Kind         string     `parquet:"kind,dict"`
	KindInferred bool       `parquet:"kind_inferred"`
}

// metricRow is one row of a stream's metrics file; service and environment
// are those of the stream (manifest and file metadata). Files written
// before layout format 2 hold requests and errors as INT64; loadMetrics
// reads both.
type metricRow struct {
	Version  string  `parquet:"version,dict"` // "" for the aggregate series
	Minute   int64   `parquet:"minute"`       // Unix minutes
	Requests float64 `parquet:"requests"`
	Errors   float64 `parquet:"errors"`
	P50      float64 `parquet:"latency_p50_ms"`
	P95      float64 `parquet:"latency_p95_ms"`
	P99      float64 `parquet:"latency_p99_ms"`
}

type signatureRow struct {
	Minute      int64  `parquet:"minute"` // Unix minutes
	Version     string `parquet:"version,dict"`
	Fingerprint string `parquet:"fingerprint,dict"`
	Count       int64  `parquet:"count"`
	ErrorType   string `parquet:"error_type,dict"`
	Endpoint    string `parquet:"endpoint,dict"`
	StatusCode  int32  `parquet:"status_code"`
}

// kpiValueRow is one row of a stream's KPI values file, sorted by name,
// version, minute.
type kpiValueRow struct {
	Name    string  `parquet:"name,dict"`
	Version string  `parquet:"version,dict"` // "" for the aggregate series
	Minute  int64   `parquet:"minute"`       // Unix minutes
	Value   float64 `parquet:"value"`
}

type kpiRow struct {
	Service     string `parquet:"service"`
	Environment string `parquet:"environment"`
	Name        string `parquet:"name"`
	Direction   string `parquet:"direction,dict"`
	Kind        string `parquet:"kind,dict"`
	Unit        string `parquet:"unit"`
}

func toKPIRow(k history.KPI) kpiRow {
	return kpiRow{Service: k.Service, Environment: k.Environment, Name: k.Name,
		Direction: string(k.Direction), Kind: string(k.Kind), Unit: k.Unit}
}

func (r kpiRow) toKPI() history.KPI {
	return history.KPI{Service: r.Service, Environment: r.Environment, Name: r.Name,
		Direction: history.Direction(r.Direction), Kind: history.KPIKind(r.Kind), Unit: r.Unit}
}

type incidentRow struct {
	ID           string     `parquet:"incident_id"`
	Service      string     `parquet:"service"`
	Environment  string     `parquet:"environment"`
	OpenedAt     time.Time  `parquet:"opened_at,timestamp(microsecond)"`
	ResolvedAt   *time.Time `parquet:"resolved_at,optional,timestamp(microsecond)"`
	Severity     string     `parquet:"severity"`
	DeploymentID string     `parquet:"deployment_id"`
}

type annotationRow struct {
	DeploymentID string     `parquet:"deployment_id"`
	Label        string     `parquet:"label"`
	Annotator    string     `parquet:"annotator"`
	AnnotatedAt  *time.Time `parquet:"annotated_at,optional,timestamp(microsecond)"`
	Note         string     `parquet:"note"`
}

type truthRow struct {
	DeploymentID string  `parquet:"deployment_id"`
	Faulty       bool    `parquet:"faulty"`
	Shape        string  `parquet:"shape,dict"`
	OnsetMinute  int64   `parquet:"onset_minute"`
	Confounders  string  `parquet:"confounders,dict"`
	Severity     float64 `parquet:"severity"`
	KPI          string  `parquet:"kpi,dict"`       // since layout format 2
	Direction    string  `parquet:"direction,dict"` // since layout format 2
}

// truthRowV1 is a truth row of layout format 1 (no kpi, direction).
type truthRowV1 struct {
	DeploymentID string  `parquet:"deployment_id"`
	Faulty       bool    `parquet:"faulty"`
	Shape        string  `parquet:"shape,dict"`
	OnsetMinute  int64   `parquet:"onset_minute"`
	Confounders  string  `parquet:"confounders,dict"`
	Severity     float64 `parquet:"severity"`
}

// readTruth reads a truth file of either layout format.
func readTruth(path string) ([]truthRow, error) {
	has, err := hasColumn(path, "kpi")
	if err != nil {
		return nil, err
	}
	if has {
		return readParquet[truthRow](path)
	}
	old, err := readParquet[truthRowV1](path)
	if err != nil {
		return nil, err
	}
	rows := make([]truthRow, len(old))
	for i, r := range old {
		rows[i] = truthRow{DeploymentID: r.DeploymentID, Faulty: r.Faulty, Shape: r.Shape,
			OnsetMinute: r.OnsetMinute, Confounders: r.Confounders, Severity: r.Severity}
	}
	return rows, nil
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromOpt(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func toDeploymentRow(d history.Deployment) deploymentRow {
	return deploymentRow{
		ID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
		StartedAt: d.StartedAt.UTC(), FinishedAt: optTime(d.FinishedAt),
		CommitSHA: d.CommitSHA, Author: d.Author,
		FilesChanged: d.FilesChanged, LinesAdded: d.LinesAdded, LinesDeleted: d.LinesDeleted,
		Kind: string(d.Kind), KindInferred: d.KindInferred,
	}
}

func (r deploymentRow) toDeployment() history.Deployment {
	return history.Deployment{
		ID: r.ID, Service: r.Service, Environment: r.Environment, Version: r.Version,
		StartedAt: r.StartedAt.UTC(), FinishedAt: fromOpt(r.FinishedAt),
		CommitSHA: r.CommitSHA, Author: r.Author,
		FilesChanged: r.FilesChanged, LinesAdded: r.LinesAdded, LinesDeleted: r.LinesDeleted,
		Kind: history.Kind(r.Kind), KindInferred: r.KindInferred,
	}
}

func toIncidentRow(i history.Incident) incidentRow {
	return incidentRow{ID: i.ID, Service: i.Service, Environment: i.Environment,
		OpenedAt: i.OpenedAt.UTC(), ResolvedAt: optTime(i.ResolvedAt), Severity: i.Severity, DeploymentID: i.DeploymentID}
}

func (r incidentRow) toIncident() history.Incident {
	return history.Incident{ID: r.ID, Service: r.Service, Environment: r.Environment,
		OpenedAt: r.OpenedAt.UTC(), ResolvedAt: fromOpt(r.ResolvedAt), Severity: r.Severity, DeploymentID: r.DeploymentID}
}

func toAnnotationRow(a history.Annotation) annotationRow {
	return annotationRow{DeploymentID: a.DeploymentID, Label: a.Label, Annotator: a.Annotator,
		AnnotatedAt: optTime(a.AnnotatedAt), Note: a.Note}
}

func (r annotationRow) toAnnotation() history.Annotation {
	return history.Annotation{DeploymentID: r.DeploymentID, Label: r.Label, Annotator: r.Annotator,
		AnnotatedAt: fromOpt(r.AnnotatedAt), Note: r.Note}
}

func toTruthRow(t history.Truth) truthRow {
	return truthRow{DeploymentID: t.DeploymentID, Faulty: t.Faulty, Shape: t.Shape,
		OnsetMinute: t.OnsetMinute, Confounders: t.Confounders, Severity: t.Severity, KPI: t.KPI, Direction: t.Direction}
}

func (r truthRow) toTruth() history.Truth {
	return history.Truth{DeploymentID: r.DeploymentID, Faulty: r.Faulty, Shape: r.Shape,
		OnsetMinute: r.OnsetMinute, Confounders: r.Confounders, Severity: r.Severity, KPI: r.KPI, Direction: r.Direction}
}

func metricToRow(m history.Metric) metricRow {
	return metricRow{Version: m.Version, Minute: history.UnixMinute(m.Minute), Requests: m.Requests,
		Errors: m.Errors, P50: m.LatencyP50, P95: m.LatencyP95, P99: m.LatencyP99}
}

func kpiValueToRow(v history.KPIValue) kpiValueRow {
	return kpiValueRow{Name: v.Name, Version: v.Version, Minute: history.UnixMinute(v.Minute), Value: v.Value}
}

func signatureToRow(s history.Signature) signatureRow {
	return signatureRow{Minute: history.UnixMinute(s.Minute), Version: s.Version, Fingerprint: s.Fingerprint,
		Count: s.Count, ErrorType: s.ErrorType, Endpoint: s.Endpoint, StatusCode: s.StatusCode}
}

// rowsPerGroup bounds row groups so that readers can skip by statistics and
// writers hold bounded buffers.
const rowsPerGroup = 256 * 1024

// writeParquet writes rows to path (a new file that must not exist: data
// files are immutable) and syncs it. When dayOf is not nil, rows are in
// ascending order of dayOf and row groups hold whole days (groupDays).
func writeParquet[T any](path string, rows []T, meta map[string]string, dayOf ...func(*T) int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(rowsPerGroup)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	write := func(rows []T) error {
		for len(rows) > 0 {
			n := min(len(rows), 8192)
			if _, err := w.Write(rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
	if len(dayOf) == 0 {
		err = write(rows)
	} else {
		for _, g := range groupDays(rows, dayOf[0]) {
			if err = write(g); err != nil {
				break
			}
			if err = w.Flush(); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// hasColumn reports whether the Parquet file at path has a top-level
// column name.
func hasColumn(path, name string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	_, ok := pf.Schema().Lookup(name)
	return ok, nil
}

// readParquet reads every row of the Parquet file at path.
func readParquet[T any](path string) ([]T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	out := make([]T, 0, f.NumRows())
	buf := make([]T, 4096)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if n == 0 {
			break
		}
	}
	if int64(len(out)) != f.NumRows() {
		return nil, fmt.Errorf("read %s: got %d of %d rows", path, len(out), f.NumRows())
	}
	return out, nil
}
