package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/pgtest"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/migrations"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/pgregistry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

// trainedModels is a stage standing in for training: it writes
// models/weak (a model per horizon over this build's features and a
// train.json) into the run folder.
func trainedModels(ctx context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
	dir := filepath.Join(rc.Dir, workdir.ModelDir("weak"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var outs []string
	for i, h := range []int{10, 20, 60} {
		p := filepath.Join(dir, workdir.ModelFile(h))
		if err := os.WriteFile(p, registrytest.ModelText(uint64(i+1), features.Names(), 4, 5, true), 0o644); err != nil {
			return nil, err
		}
		outs = append(outs, p)
	}
	tj, _ := json.Marshal(map[string]any{
		"label_source": "weak",
		"horizons":     []map[string]any{{"horizon": 10}, {"horizon": 20}, {"horizon": 60}},
		"policy":       map[string]any{"horizons": []int{10, 20, 60}, "thresholds": []float64{0.9, 0.8, 0.7}},
	})
	p := filepath.Join(dir, workdir.TrainFile)
	if err := os.WriteFile(p, tj, 0o644); err != nil {
		return nil, err
	}
	outs = append(outs, p)
	for i := range outs {
		outs[i], _ = filepath.Rel(rc.Dir, outs[i])
	}
	return &pipeline.Result{Outputs: outs}, nil
}

// A run killed during register — after the registry stored the version,
// before the run record said so — and then resumed registers no second
// version: the run id is the registration's key. On both registry
// backends.
func TestResumeAfterKillDuringRegister(t *testing.T) {
	for _, backend := range []string{"embedded", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			var b registry.Backend
			if backend == "postgres" {
				dsn := pgtest.DSN(t)
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := migrations.Up(ctx, conn); err != nil {
					t.Fatal(err)
				}
				conn.Close(ctx)
				db, err := pgregistry.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				b = db
			} else {
				d, err := registry.OpenDir(filepath.Join(root, "registry"))
				if err != nil {
					t.Fatal(err)
				}
				b = d
			}
			reg := registry.New(b, registry.DefaultConfig())
			t.Cleanup(func() { reg.Close() })
			deps := &pipeline.Deps{Registry: reg, Run: pipeline.DefaultConfig(), Features: features.DefaultConfig(), CodeVersion: "test", By: "test"}
			var register pipeline.Stage
			for _, st := range pipeline.DefaultStages(deps) {
				if st.Name == pipeline.StageRegister {
					register = st
				}
			}
			killed := false
			dying := pipeline.Stage{Name: pipeline.StageRegister, Run: func(ctx context.Context, rc *pipeline.RunContext) (*pipeline.Result, error) {
				res, err := register.Run(ctx, rc)
				if err == nil && !killed {
					// The version is stored; the process dies before the
					// run record is updated.
					killed = true
					return nil, fmt.Errorf("killed after registering version %s", res.Notes[pipeline.NoteVersion])
				}
				return res, err
			}}
			runner := &pipeline.Runner{
				Records: &pipeline.DirRecords{Root: filepath.Join(root, "runs")}, Root: filepath.Join(root, "runs"),
				Stages: []pipeline.Stage{{Name: pipeline.StageTrainWeak, Run: trainedModels}, dying}, Holder: "test",
			}
			rec, err := runner.Run(ctx, pipeline.Options{})
			var se *pipeline.StageError
			if !errors.As(err, &se) || se.Stage != pipeline.StageRegister {
				t.Fatalf("first attempt: %v, want a failure in register", err)
			}
			if vs, _ := b.Versions(ctx, "faultline"); len(vs) != 1 || vs[0].Lineage.RunID != rec.ID {
				t.Fatalf("after the kill: %d versions (%+v), want 1 of run %s", len(vs), vs, rec.ID)
			}
			resumed, err := runner.Run(ctx, pipeline.Options{ResumeID: rec.ID})
			if err != nil {
				t.Fatal(err)
			}
			if s := resumed.Stage(pipeline.StageRegister); s.Status != pipeline.StatusSucceeded || s.Notes[pipeline.NoteVersion] != "1" {
				t.Fatalf("resumed register: %s, notes %v", s.Status, s.Notes)
			}
			vs, err := b.Versions(ctx, "faultline")
			if err != nil || len(vs) != 1 {
				t.Fatalf("after the resume: %d versions, %v; want 1 (no orphan)", len(vs), err)
			}
			if h, err := b.History(ctx, "faultline", "candidate"); err != nil || len(h) != 1 || h[0].To != 1 {
				t.Errorf("candidate alias history %+v, %v; want one move to 1", h, err)
			}
		})
	}
}
