package evaluation

import (
	"math"
	"reflect"
	"testing"
)

// TestReadInputsKeepsTheSplitsFeatureRows checks that an evaluation reading
// only its split's feature rows sees the same values for every deploy of
// the split, no row for the others, and records the same lineage.
func TestReadInputsKeepsTheSplitsFeatureRows(t *testing.T) {
	dir := writeFixture(t)
	all, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"test", "valid"} {
		in, err := readInputs(dir, split)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in.Files, all.Files) {
			t.Errorf("%s: lineage %v, want %v", split, in.Files, all.Files)
		}
		kept, dropped := 0, 0
		for id, s := range all.Split {
			for _, h := range all.Horizons {
				for _, col := range all.FeatureColumns(h) {
					want, wantOK := all.Feature(h, id, col)
					got, ok := in.Feature(h, id, col)
					switch {
					case s != split && ok:
						t.Fatalf("%s: deploy %s of split %s has a row at h%d", split, id, s, h)
					case s == split && (ok != wantOK || !(got == want || math.IsNaN(got) && math.IsNaN(want))):
						t.Fatalf("%s: deploy %s h%d %s = %v, %v; want %v, %v", split, id, h, col, got, ok, want, wantOK)
					}
				}
				if _, ok := all.Feature(h, id, all.FeatureColumns(h)[0]); ok {
					if s == split {
						kept++
					} else {
						dropped++
					}
				}
			}
		}
		if kept == 0 || dropped == 0 {
			t.Errorf("%s: %d rows kept and %d dropped: the fixture should have both", split, kept, dropped)
		}
	}
}
