package history

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestInferKinds(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d := func(id, env, version string, minute int, kind Kind, inferred bool) Deployment {
		return Deployment{ID: id, Service: "s", Environment: env, Version: version,
			StartedAt: t0.Add(time.Duration(minute) * time.Minute), Kind: kind, KindInferred: inferred}
	}
	tests := []struct {
		name        string
		in          []Deployment
		want        map[string]Kind // every deployment's kind afterwards
		wantChanged []string        // IDs whose Kind changed
	}{
		{
			name: "new deployments: a return to an earlier version is a rollback",
			in:   []Deployment{d("c", "p", "v1", 20, "", false), d("a", "p", "v1", 0, "", false), d("b", "p", "v2", 10, "", false)},
			want: map[string]Kind{"a": KindDeploy, "b": KindDeploy, "c": KindRollback}, wantChanged: []string{"a", "b", "c"},
		},
		{
			name: "streams are separate",
			in:   []Deployment{d("a", "p", "v1", 0, "", false), d("b", "q", "v1", 10, "", false)},
			want: map[string]Kind{"a": KindDeploy, "b": KindDeploy}, wantChanged: []string{"a", "b"},
		},
		{
			name: "stored inferred kinds are re-inferred; unchanged ones are not reported",
			in:   []Deployment{d("a", "p", "v2", 0, "", false), d("b", "p", "v2", 60, KindDeploy, true), d("c", "p", "v3", 90, KindDeploy, true)},
			want: map[string]Kind{"a": KindDeploy, "b": KindRollback, "c": KindDeploy}, wantChanged: []string{"a", "b"},
		},
		{
			name: "given kinds stay and count as earlier deployments",
			in:   []Deployment{d("a", "p", "v1", 0, KindRollback, false), d("b", "p", "v1", 5, KindDeploy, false), d("c", "p", "v1", 10, KindRollback, true)},
			want: map[string]Kind{"a": KindRollback, "b": KindDeploy, "c": KindRollback},
		},
		{
			name: "same start: the byte-wise smaller ID is earlier",
			in:   []Deployment{d("a", "p", "v1", 0, KindDeploy, true), d("B", "p", "v1", 0, KindRollback, true)},
			want: map[string]Kind{"B": KindDeploy, "a": KindRollback}, wantChanged: []string{"B", "a"},
		},
		{
			name: "empty",
			want: map[string]Kind{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := slices.Clone(tc.in)
			changed := InferKinds(ds)
			got := map[string]Kind{}
			for i, x := range ds {
				got[x.ID] = x.Kind
				if i > 0 && compareInStream(ds[i-1], x) >= 0 {
					t.Errorf("not sorted at %d: %s after %s", i, x.ID, ds[i-1].ID)
				}
				given := slices.ContainsFunc(tc.in, func(y Deployment) bool { return y.ID == x.ID && y.Kind != "" && !y.KindInferred })
				if x.KindInferred == given {
					t.Errorf("%s: KindInferred %v", x.ID, x.KindInferred)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("kinds %v, want %v", got, tc.want)
			}
			var ids []string
			for _, i := range changed {
				ids = append(ids, ds[i].ID)
			}
			if !slices.Equal(ids, tc.wantChanged) {
				t.Errorf("changed %v, want %v", ids, tc.wantChanged)
			}
			// Applying the rule again changes nothing.
			if again := InferKinds(ds); len(again) != 0 {
				t.Errorf("second pass changed %v", again)
			}
		})
	}
}

// TestInferKindsIndependentOfOrder: the kinds depend on the set of
// deployments only, whatever order they come in and whatever kinds an
// earlier inference left.
func TestInferKindsIndependentOfOrder(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var base []Deployment
	for i := range 60 {
		d := Deployment{ID: string(rune('a'+i%26)) + string(rune('0'+i/26)), Service: "s", Environment: []string{"p", "q"}[rng.IntN(2)],
			Version: []string{"v1", "v2", "v3"}[rng.IntN(3)], StartedAt: t0.Add(time.Duration(rng.IntN(20)) * time.Minute)}
		if rng.IntN(5) == 0 {
			d.Kind = []Kind{KindDeploy, KindRollback}[rng.IntN(2)]
		}
		base = append(base, d)
	}
	want := slices.Clone(base)
	InferKinds(want)
	for range 20 {
		ds := slices.Clone(base)
		rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
		for i := range ds { // stale inferred kinds
			if ds[i].Kind == "" && rng.IntN(2) == 0 {
				ds[i].Kind, ds[i].KindInferred = []Kind{KindDeploy, KindRollback}[rng.IntN(2)], true
			}
		}
		InferKinds(ds)
		if !slices.Equal(ds, want) {
			t.Fatalf("order changed the result:\n got %+v\nwant %+v", ds, want)
		}
	}
}
