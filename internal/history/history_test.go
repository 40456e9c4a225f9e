package history

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestSeriesOf(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 6, 1, 8, m, 0, 0, time.UTC) }
	nan := math.NaN()
	rows := []Metric{
		{Version: "v2", Minute: at(0), Requests: 10, Errors: 1, LatencyP50: 1, LatencyP95: 2, LatencyP99: 3},
		{Version: "v1", Minute: at(0), Requests: 20, Errors: 0, LatencyP50: nan, LatencyP95: nan, LatencyP99: nan},
		{Version: "v2", Minute: at(1), Requests: 11, Errors: 2, LatencyP50: 4, LatencyP95: 5, LatencyP99: 6},
	}
	got := SeriesOf(rows)
	m0 := UnixMinute(at(0))
	want := []Series{
		{Version: "v1", Minutes: []int64{m0}, Requests: []float64{20}, Errors: []float64{0}, P50: []float64{nan}, P95: []float64{nan}, P99: []float64{nan}},
		{Version: "v2", Minutes: []int64{m0, m0 + 1}, Requests: []float64{10, 11}, Errors: []float64{1, 2}, P50: []float64{1, 4}, P95: []float64{2, 5}, P99: []float64{3, 6}},
	}
	if len(got) != 2 || !reflect.DeepEqual(got[1], want[1]) || got[0].Version != "v1" || got[0].Requests[0] != 20 || !math.IsNaN(got[0].P95[0]) {
		t.Fatalf("SeriesOf =\n%+v\nwant\n%+v", got, want)
	}
	if len(SeriesOf(nil)) != 0 {
		t.Errorf("SeriesOf(nil) not empty")
	}
}

func TestUnixMinuteAndRange(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(59, 0), 0},
		{time.Unix(60, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-60, 0), -1},
	}
	for _, tc := range tests {
		if got := UnixMinute(tc.t); got != tc.want {
			t.Errorf("UnixMinute(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
	r := Range{From: time.Unix(60, 0), Until: time.Unix(120, 0)}
	for _, c := range []struct {
		s    int64
		want bool
	}{{59, false}, {60, true}, {119, true}, {120, false}} {
		if got := r.Contains(time.Unix(c.s, 0)); got != c.want {
			t.Errorf("Contains(%d) = %v", c.s, got)
		}
	}
	if !(Range{}).Contains(time.Unix(1e9, 0)) {
		t.Errorf("open range must contain everything")
	}
}
