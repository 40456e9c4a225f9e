package importer

import (
	"math/rand/v2"
	"testing"
)

type minuteAdd struct {
	key          string
	minute, line int64
	isNew        bool
	prevLine     int64
}

func TestMinuteSet(t *testing.T) {
	const day = 1440
	tests := []struct {
		name string
		adds []minuteAdd
	}{
		{"in order, then the same minute again", []minuteAdd{
			{"a", 100, 2, true, 0}, {"a", 101, 3, true, 0}, {"a", 101, 4, false, 3}, {"b", 101, 5, true, 0},
		}},
		{"earlier minute: prepended, and both remembered", []minuteAdd{
			{"a", 5000, 2, true, 0}, {"a", 10, 3, true, 0}, {"a", 5000, 4, false, 0}, {"a", 10, 5, false, 3}, {"a", 11, 6, true, 0},
		}},
		{"span beyond 45 days turns sparse and keeps every minute", []minuteAdd{
			{"a", 0, 2, true, 0}, {"a", 63, 3, true, 0}, {"a", 64, 4, true, 0}, {"a", 50 * day, 5, true, 0},
			{"a", 0, 6, false, 0}, {"a", 63, 7, false, 0}, {"a", 64, 8, false, 0}, {"a", 50 * day, 9, false, 5}, {"a", 1, 10, true, 0},
		}},
		{"a far earlier minute turns sparse too", []minuteAdd{
			{"a", 400 * day, 2, true, 0}, {"a", 3, 3, true, 0}, {"a", 400 * day, 4, false, 0}, {"a", 3, 5, false, 3},
		}},
		{"minutes before 1970", []minuteAdd{
			{"a", -70, 2, true, 0}, {"a", 70, 3, true, 0}, {"a", -70, 4, false, 0}, {"a", -1, 5, true, 0}, {"a", -1, 6, false, 5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMinuteSet()
			for i, a := range tt.adds {
				isNew, prev := s.add([4]string{"svc", "env", a.key, ""}, a.minute, a.line)
				if isNew != a.isNew || prev != a.prevLine {
					t.Errorf("add %d (%s, minute %d): got new=%v prev=%d, want new=%v prev=%d", i, a.key, a.minute, isNew, prev, a.isNew, a.prevLine)
				}
			}
			if got := s.firstLine([4]string{"svc", "env", "a", ""}); got != 2 {
				t.Errorf("firstLine = %d, want 2", got)
			}
		})
	}
}

// TestMinuteSetMatchesAMap checks the set against a map of every pair on
// random rows: short and long spans, in and out of order, repeats.
func TestMinuteSetMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newMinuteSet()
	seen := map[[2]int64]bool{}
	for i := range 200000 {
		series := rng.Int64N(50)
		var minute int64
		switch series % 3 {
		case 0: // a few hours
			minute = rng.Int64N(300)
		case 1: // months
			minute = rng.Int64N(200 * 1440)
		default: // around a series-dependent start, before and after it
			minute = series*10000 + rng.Int64N(4000) - 2000
		}
		k := [2]int64{series, minute}
		isNew, _ := s.add([4]string{"svc", "env", string(rune('a' + series)), ""}, minute, int64(i+2))
		if isNew == seen[k] {
			t.Fatalf("row %d (series %d, minute %d): new=%v, but seen before=%v", i, series, minute, isNew, seen[k])
		}
		seen[k] = true
	}
}
