package workdir

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

func TestDeploys(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	tests := []struct {
		name string
		rows []DeployRow
		want []string // substrings of the error; nil: reads back
	}{
		{"round trip", []DeployRow{
			{DeploymentID: "a", Service: "api", Environment: "prod", Version: "v1", StartedAt: at, Kind: "deploy"},
			{DeploymentID: "b", Service: "web", Environment: "eu", Version: "v2", StartedAt: at.Add(time.Minute), Kind: "rollback"},
		}, nil},
		{"empty id", []DeployRow{{DeploymentID: "a"}, {DeploymentID: ""}}, []string{"row 2", "empty deployment_id"}},
		{"twice", []DeployRow{{DeploymentID: "a"}, {DeploymentID: "b"}, {DeploymentID: "a"}}, []string{"row 3", `"a"`, "twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), DeploysFile)
			if err := WriteDeploys(path, tt.rows); err != nil {
				t.Fatal(err)
			}
			got, err := ReadDeploys(path)
			if tt.want != nil {
				wantErr(t, err, append(tt.want, path)...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.rows) {
				t.Fatalf("read %d rows, want %d", len(got), len(tt.rows))
			}
			for i := range got {
				g, w := got[i], tt.rows[i]
				if !g.StartedAt.Equal(w.StartedAt) {
					t.Errorf("row %d: started_at %v, want %v", i+1, g.StartedAt, w.StartedAt)
				}
				g.StartedAt, w.StartedAt = time.Time{}, time.Time{}
				if g != w {
					t.Errorf("row %d: %+v, want %+v", i+1, g, w)
				}
			}
		})
	}
}

func TestDeploysBadFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), DeploysFile)
	if _, err := ReadDeploys(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	bad := writeText(t, DeploysFile, "not parquet")
	_, err := ReadDeploys(bad)
	wantErr(t, err, bad)
}

// The Parquet schema of a file written from a Go struct is named after the
// type: renaming DeployRow or SplitRow would change the files' bytes.
func TestSchemaNames(t *testing.T) {
	dir := t.TempDir()
	deploys, split := filepath.Join(dir, DeploysFile), filepath.Join(dir, SplitFile)
	if err := WriteDeploys(deploys, []DeployRow{{DeploymentID: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteSplit(split, []SplitRow{{"a", SplitTest}}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{deploys: "DeployRow", split: "SplitRow"} {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.pf.Schema().Name(); got != want {
			t.Errorf("%s: schema %q, want %q", filepath.Base(path), got, want)
		}
		f.Close()
	}
}
