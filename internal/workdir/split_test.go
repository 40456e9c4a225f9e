package workdir

import (
	"errors"
	"io/fs"
	"maps"
	"path/filepath"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		rows []SplitRow
		want []string // substrings of the error; nil: reads back
	}{
		{"round trip", []SplitRow{{"a", SplitTrain}, {"b", SplitValid}, {"c", SplitTest}}, nil},
		{"empty", nil, nil},
		{"unknown split", []SplitRow{{"a", SplitTrain}, {"b", "holdout"}}, []string{"row 2", `unknown split "holdout"`}},
		{"twice", []SplitRow{{"a", SplitTrain}, {"a", SplitTest}}, []string{"row 2", `"a"`, "two rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), SplitFile)
			if err := WriteSplit(path, tt.rows); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSplit(path)
			if tt.want != nil {
				wantErr(t, err, append(tt.want, path)...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, r := range tt.rows {
				want[r.DeploymentID] = r.Split
			}
			if !maps.Equal(got, want) {
				t.Errorf("read %v, want %v", got, want)
			}
		})
	}
	if _, err := ReadSplit(filepath.Join(t.TempDir(), SplitFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	bad := writeText(t, SplitFile, "PAR1")
	_, err := ReadSplit(bad)
	wantErr(t, err, bad)
}
