package config

import (
	"strings"
	"testing"
)

type section struct {
	Threshold float64 `yaml:"threshold"`
	Name      string  `yaml:"name"`
	List      []int   `yaml:"list"`
}

func TestSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    section
		wantErr string
	}{
		{name: "absent section keeps defaults", yaml: "other: {x: 1}\n", want: section{Threshold: 0.5, Name: "d", List: []int{10, 20}}},
		{name: "overrides only given keys", yaml: "stage:\n  threshold: 0.9\n", want: section{Threshold: 0.9, Name: "d", List: []int{10, 20}}},
		{name: "list replaced", yaml: "stage:\n  list: [5]\n", want: section{Threshold: 0.5, Name: "d", List: []int{5}}},
		{name: "unknown key", yaml: "stage:\n  treshold: 0.9\n", wantErr: "field treshold not found"},
		{name: "wrong type", yaml: "stage:\n  threshold: high\n", wantErr: "cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := section{Threshold: 0.5, Name: "d", List: []int{10, 20}}
			err = f.Section("stage", &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "f.yaml") {
					t.Fatalf("err = %v, want one naming f.yaml and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Threshold != tc.want.Threshold || got.Name != tc.want.Name || len(got.List) != len(tc.want.List) || got.List[0] != tc.want.List[0] {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseErrorsAndResolved(t *testing.T) {
	if _, err := Parse("bad.yaml", []byte("- a\n- b\n")); err == nil || !strings.Contains(err.Error(), "bad.yaml:1") {
		t.Errorf("list at top level: %v", err)
	}
	if _, err := Parse("dup.yaml", []byte("a: {}\na: {}\n")); err == nil {
		t.Errorf("duplicate section accepted")
	}
	f, err := Parse("ok.yaml", []byte("stage: {name: x}\nunused: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := section{Threshold: 1}
	if err := f.Section("stage", &s); err != nil {
		t.Fatal(err)
	}
	if u := f.Unused(); len(u) != 1 || u[0] != "unused" {
		t.Errorf("Unused = %v", u)
	}
	out, err := f.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "threshold: 1") || !strings.Contains(string(out), "name: x") {
		t.Errorf("resolved config lacks defaults or values:\n%s", out)
	}
}
