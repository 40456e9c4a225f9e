package workdir

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/faultline-dev/faultline/features"
)

func deployRows(n int) []DeployRow {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := make([]DeployRow, n)
	for i := range rows {
		rows[i] = DeployRow{DeploymentID: "d" + strconv.Itoa(i), Service: "svc" + strconv.Itoa(i%37), Environment: "prod",
			Version: "v" + strconv.Itoa(i), StartedAt: at.Add(time.Duration(i) * time.Minute), Kind: "deploy"}
	}
	return rows
}

// A file written row by row (DeployWriter, WriteDeploys) has the bytes of
// one Parquet write of every row: merged shards rely on it.
func TestDeployWriterBytes(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 1025, 5000} {
		rows := deployRows(n)
		var one bytes.Buffer
		w := parquet.NewGenericWriter[DeployRow](&one, parquet.Compression(&parquet.Zstd))
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), DeploysFile)
		if err := WriteDeploys(path, rows); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, one.Bytes()) {
			t.Errorf("%d rows: WriteDeploys wrote %d bytes, one write %d; they differ", n, len(got), one.Len())
		}
	}
}

func TestDeployReader(t *testing.T) {
	rows := deployRows(2500) // several batches
	path := filepath.Join(t.TempDir(), DeploysFile)
	if err := WriteDeploys(path, rows); err != nil {
		t.Fatal(err)
	}
	dr, err := OpenDeploys(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	if dr.Rows() != int64(len(rows)) {
		t.Errorf("Rows() = %d, want %d", dr.Rows(), len(rows))
	}
	for i, want := range rows {
		got, err := dr.Next()
		if err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
		if !got.StartedAt.Equal(want.StartedAt) {
			t.Fatalf("row %d: started_at %v, want %v", i+1, got.StartedAt, want.StartedAt)
		}
		got.StartedAt, want.StartedAt = time.Time{}, time.Time{}
		if got != want {
			t.Fatalf("row %d: %+v, want %+v", i+1, got, want)
		}
	}
	if _, err := dr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v, want io.EOF", err)
	}
}

func TestDeployReaderBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDeploys(filepath.Join(dir, DeploysFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	split := filepath.Join(dir, SplitFile)
	if err := WriteSplit(split, []SplitRow{{"a", SplitTest}}); err != nil {
		t.Fatal(err)
	}
	_, err := OpenDeploys(split)
	wantErr(t, err, split, "columns")

	empty := filepath.Join(dir, "empty-id.parquet")
	if err := WriteDeploys(empty, []DeployRow{{DeploymentID: "a"}, {DeploymentID: ""}}); err != nil {
		t.Fatal(err)
	}
	dr, err := OpenDeploys(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	if _, err := dr.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = dr.Next()
	wantErr(t, err, empty, "row 2", "empty deployment_id")
}

func TestFeatureReader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FeaturesFile(20))
	w, err := CreateFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2100
	for i := range n {
		if err := w.Add("d"+strconv.Itoa(i), vector(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fr, err := OpenFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	if fr.Rows() != n {
		t.Errorf("Rows() = %d, want %d", fr.Rows(), n)
	}
	v := make([]float64, features.NumFeatures)
	for i := range n {
		id, err := fr.Next(v)
		if err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
		if id != "d"+strconv.Itoa(i) {
			t.Fatalf("row %d: id %q", i+1, id)
		}
		for f, want := range vector(i) {
			if math.Float64bits(v[f]) != math.Float64bits(want) {
				t.Fatalf("row %d column %d = %v, want %v (same bits)", i+1, f, v[f], want)
			}
		}
	}
	if _, err := fr.Next(v); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v, want io.EOF", err)
	}
	if _, err := fr.Next(v[:3]); err == nil {
		t.Error("a short vector accepted")
	}

	if _, err := OpenFeatures(filepath.Join(dir, FeaturesFile(10))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	deploys := filepath.Join(dir, DeploysFile)
	if err := WriteDeploys(deploys, deployRows(3)); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFeatures(deploys)
	wantErr(t, err, deploys, "columns")
}
