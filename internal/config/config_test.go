package config

import (
	"errors"
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

// Decoding errors carry the file's line numbers, not the section's.
func TestSectionErrorsNameFileLines(t *testing.T) {
	doc := "# comment\nother:\n  x: 1\n\nstage:\n  name: a\n  treshold: 0.9\n"
	f, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s := section{}
	err = f.Section("stage", &s)
	if err == nil || !strings.HasPrefix(err.Error(), "f.yaml:7: stage: field treshold not found") {
		t.Fatalf("err = %v, want it at f.yaml:7", err)
	}
	// A null section keeps the defaults.
	f, err = Parse("f.yaml", []byte("stage:\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = section{Name: "d"}
	if err := f.Section("stage", &s); err != nil || s.Name != "d" {
		t.Fatalf("null section: %+v, %v", s, err)
	}
}

func TestLine(t *testing.T) {
	doc := `labeling:
  model:
    threshold: 1.5
train:
  horizons: [10, 20,
     30]
  gbdt:
    num_trees: 0
registry:
  gate:
    - metric: a
    - metric: b
      tolerance: -1
`
	f, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want int
	}{
		{"labeling", 1},
		{"labeling.model.threshold", 3},
		{"labeling.model.prior_strength", 2}, // absent: its parent
		{"labeling.rollback.within_hours", 1},
		{"train.horizons", 5},
		{"train.horizons[2]", 6},
		{"train.horizons[7]", 5},
		{"train.gbdt.num_trees", 8},
		{"registry.gate[1].tolerance", 13},
		{"registry.gate[1]", 12},
		{"evaluate.split", 0}, // section absent: at its default
		{"", 0},
	}
	for _, tc := range tests {
		if got := f.Line(tc.path); got != tc.want {
			t.Errorf("Line(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

func TestLocate(t *testing.T) {
	doc := "train:\n  horizons: [10, 0]\nlabeling:\n  model:\n    threshold: 1.5\n"
	f, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	joined := errors.Join(
		Nest("labeling.model", Errorf("threshold", "1.5 must be in (0, 1)")),
		Errorf("evaluate.split", "must not be empty"),
		Errorf("train.horizons[1]", "0 is not positive"),
		errors.New("a plain error"),
	)
	err = f.Locate(joined)
	want := "f.yaml:2: train.horizons[1]: 0 is not positive\n" +
		"f.yaml:5: labeling.model.threshold: 1.5 must be in (0, 1)\n" +
		"f.yaml: evaluate.split: must not be empty\n" +
		"f.yaml: a plain error"
	if err == nil || err.Error() != want {
		t.Fatalf("Locate:\n%v\nwant:\n%s", err, want)
	}
	if f.Locate(nil) != nil || f.Locate(errors.Join(nil, nil)) != nil {
		t.Error("Locate of no error is not nil")
	}
	if err := Empty().Locate(Errorf("train.labels", "bad")); err == nil || err.Error() != "train.labels: bad" {
		t.Errorf("without a file: %v", err)
	}
}

func TestInSection(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{Errorf("registry.gate[0]", "no metric"), "registry.gate[0]: no metric"},
		{errors.New("registry.gate[1]: tolerance must be >= 0"), "registry.gate[1]: tolerance must be >= 0"},
		{errors.New("services must be at least 1"), "registry: services must be at least 1"},
		{errors.New("other.key: x"), "registry: other.key: x"},
		{Errorf("model", "bad"), "registry.model: bad"},
	}
	for _, tc := range tests {
		if got := InSection("registry", tc.err); got == nil || got.Error() != tc.want {
			t.Errorf("InSection(%q) = %v, want %q", tc.err, got, tc.want)
		}
	}
	if InSection("registry", nil) != nil {
		t.Error("InSection(nil) is not nil")
	}
}

func TestNest(t *testing.T) {
	err := Nest("train.gbdt", errors.Join(Errorf("num_trees", "must be ≥ 1"), Errorf("[2]", "x"), errors.New("plain"),
		errors.New("max_bins: 300 is not in [2, 255]"), errors.New("label model config: x")))
	want := "train.gbdt.num_trees: must be ≥ 1\ntrain.gbdt[2]: x\ntrain.gbdt: plain\ntrain.gbdt.max_bins: 300 is not in [2, 255]\ntrain.gbdt: label model config: x"
	if err == nil || err.Error() != want {
		t.Fatalf("Nest = %v, want %q", err, want)
	}
	if Nest("a", nil) != nil {
		t.Error("Nest(nil) is not nil")
	}
}

// A rule between settings points at another setting it involves when the
// file does not hold the first.
func TestLocateAlso(t *testing.T) {
	f, err := Parse("f.yaml", []byte("features:\n  horizons: [10, 20]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Locate(&FieldError{Path: "train.horizons[2]", Msg: "60 is not a feature horizon", Also: []string{"evaluate.x", "features.horizons"}})
	if want := "f.yaml:2: train.horizons[2]: 60 is not a feature horizon"; err == nil || err.Error() != want {
		t.Fatalf("Locate = %v, want %q", err, want)
	}
	// The setting at its default inside a section the file has: the other
	// setting rather than the section.
	err = f.Locate(WithAlso(errors.New("features.ensemble_horizon: 60 is not a feature horizon"), "features.horizons"))
	if want := "f.yaml:2: features.ensemble_horizon: 60 is not a feature horizon"; err == nil || err.Error() != want {
		t.Fatalf("Locate = %v, want %q", err, want)
	}
}

func TestRetired(t *testing.T) {
	f, err := Parse("f.yaml", []byte("train:\n  labels: weak\n  ensemble_horizon: 20\nevaluate:\n  split: test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has("train.labels") || f.Has("train.horizons") || f.Has("evaluate.baseline_minutes") || !f.Has("evaluate") {
		t.Error("Has is wrong")
	}
	err = f.Retired(map[string]string{"train.ensemble_horizon": "features.ensemble_horizon", "evaluate.baseline_minutes": "features.ensemble_horizon"})
	want := "f.yaml:3: train.ensemble_horizon: this setting was removed: set features.ensemble_horizon instead"
	if err == nil || err.Error() != want {
		t.Fatalf("Retired = %v, want %q", err, want)
	}
	if err := Empty().Retired(map[string]string{"a.b": "c"}); err != nil {
		t.Errorf("Retired on defaults: %v", err)
	}
}
