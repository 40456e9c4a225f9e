package features

import (
	"math"
	"testing"
)

func TestBAShiftRule(t *testing.T) {
	nan := math.NaN()
	t.Run("shifted", func(t *testing.T) {
		for _, c := range []struct {
			shiftP, sustainedP, alpha float64
			want                      bool
		}{
			{0.001, 0.002, 0.005, true},
			{0.005, 0.005, 0.005, true}, // at the threshold
			{0.001, 0.006, 0.005, false},
			{0.006, 0.001, 0.005, false},
			{nan, 0.001, 0.005, false},
			{0.001, nan, 0.005, false},
		} {
			if got := BAShifted(c.shiftP, c.sustainedP, c.alpha); got != c.want {
				t.Errorf("BAShifted(%v, %v, %v) = %v, want %v", c.shiftP, c.sustainedP, c.alpha, got, c.want)
			}
		}
	})
	t.Run("material", func(t *testing.T) {
		for _, c := range []struct {
			level, min float64
			want       bool
		}{
			{0.003, 0.002, true},
			{0.002, 0.002, true},
			{0.0019, 0.002, false},
			{-0.01, 0.002, false},
			{nan, 0.002, false},
			{nan, 0, true}, // no floor
			{-1, 0, true},
		} {
			if got := BAMaterial(c.level, c.min); got != c.want {
				t.Errorf("BAMaterial(%v, %v) = %v, want %v", c.level, c.min, got, c.want)
			}
		}
	})
	t.Run("error material", func(t *testing.T) {
		for _, c := range []struct {
			name                                  string
			level, baseline, newSig, excess, rise float64
			want                                  bool
		}{
			{"absolute", 0.003, 0.05, 0, 0.002, 0.1, true},
			{"absolute, new fingerprint", 0.003, 0.05, 40, 0.002, 0.1, true},
			{"small relative to a large rate", 0.0015, 0.05, 0, 0.002, 0.1, false},
			{"a third of a small rate", 0.0015, 0.004, 0, 0.002, 0.1, true},
			{"at the relative floor", 0.0004, 0.004, 0, 0.002, 0.1, true},
			{"below it", 0.00039, 0.004, 0, 0.002, 0.1, false},
			{"new fingerprint", 0.0015, 0.004, 3, 0.002, 0.1, false},
			{"fingerprints unknown", 0.0015, 0.004, nan, 0.002, 0.1, false},
			{"no baseline errors", 0.0015, 0, 0, 0.002, 0.1, false},
			{"baseline unknown", 0.0015, nan, 0, 0.002, 0.1, false},
			{"relative floor off", 0.0015, 0.004, 0, 0.002, 0, false},
			{"no floor at all", -1, 0.004, 3, 0, 0.1, true},
			{"level unknown", nan, 0.004, 0, 0.002, 0.1, false},
			{"a fall", -0.0015, 0.004, 0, 0.002, 0.1, false},
		} {
			if got := BAErrorMaterial(c.level, c.baseline, c.newSig, c.excess, c.rise); got != c.want {
				t.Errorf("%s: BAErrorMaterial(%v, %v, %v, %v, %v) = %v, want %v", c.name, c.level, c.baseline, c.newSig, c.excess, c.rise, got, c.want)
			}
		}
	})
	t.Run("decayed", func(t *testing.T) {
		for _, c := range []struct {
			name                 string
			a, b                 int
			levelA, levelB, sign float64
			minLateToEarly       float64
			want                 bool
		}{
			// Up to 20 minutes 1.0; up to 60 minutes 0.7: the last 40
			// minutes averaged (60·0.7 − 20)/40 = 0.55 ≥ 0.5.
			{"held", 20, 60, 1.0, 0.7, 1, 0.5, false},
			// Up to 60 minutes 0.6: the last 40 averaged 0.4 < 0.5.
			{"faded", 20, 60, 1.0, 0.6, 1, 0.5, true},
			// A drop (throughput) is oriented by the sign.
			{"drop held", 10, 20, -0.2, -0.2, -1, 0.5, false},
			{"drop faded", 10, 20, -0.2, -0.05, -1, 0.5, true},
			// An early level on the other side never counts as decaying.
			{"not yet shifted", 10, 20, -0.1, 0.3, 1, 0.5, false},
			{"late grew", 10, 20, 0.1, 0.3, 1, 0.5, false},
			{"NaN early", 10, 20, nan, 0.3, 1, 0.5, true},
			{"NaN late", 10, 20, 0.3, nan, 1, 0.5, true},
		} {
			if got := BADecayed(c.a, c.b, c.levelA, c.levelB, c.sign, c.minLateToEarly); got != c.want {
				t.Errorf("%s: BADecayed(%d, %d, %v, %v, %v, %v) = %v, want %v", c.name, c.a, c.b, c.levelA, c.levelB, c.sign, c.minLateToEarly, got, c.want)
			}
		}
	})
	t.Run("traffic rose", func(t *testing.T) {
		// z of 1 − 0.01 is 2.326.
		for _, c := range []struct {
			shift, sustained, alpha float64
			want                    bool
		}{
			{-2.4, -2.4, 0.01, true},
			{-2.4, -2.3, 0.01, false},
			{-2.3, -2.4, 0.01, false},
			{2.4, 2.4, 0.01, false},    // fell
			{-2.4, -2.4, 0.001, false}, // z 3.09
			{nan, -5, 0.01, false},
			{-5, nan, 0.01, false},
		} {
			if got := BATrafficRose(c.shift, c.sustained, c.alpha); got != c.want {
				t.Errorf("BATrafficRose(%v, %v, %v) = %v, want %v", c.shift, c.sustained, c.alpha, got, c.want)
			}
		}
	})
	t.Run("fleet event", func(t *testing.T) {
		for _, c := range []struct {
			frac, share float64
			want        bool
		}{
			{0.1, 0.1, true},
			{0.3, 0.1, true},
			{0.07, 0.1, false},
			{nan, 0.1, false}, // no other service: no control, not an event
		} {
			if got := FleetEvent(c.frac, c.share); got != c.want {
				t.Errorf("FleetEvent(%v, %v) = %v, want %v", c.frac, c.share, got, c.want)
			}
		}
	})
}
