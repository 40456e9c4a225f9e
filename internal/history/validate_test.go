package history

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string // substring; "" means valid
	}{
		{"key of 200 bytes", CheckKey(strings.Repeat("é", 100)), ""},
		{"key of 201 bytes", CheckKey(strings.Repeat("x", 201)), "longer than 200 bytes (201)"},
		{"empty key", CheckKey(""), "required value is empty"},
		{"empty optional key", CheckOptionalKey(""), ""},
		{"NUL", CheckKey("a\x00b"), "NUL"},
		{"bad UTF-8", CheckText("\xff"), "UTF-8"},
		{"1970", CheckTime(MinTime), ""},
		{"just before 1970", CheckTime(MinTime.Add(-time.Nanosecond)), "outside 1970..2099"},
		{"end of 2099", CheckTime(MaxTime.Add(-time.Nanosecond)), ""},
		{"2100", CheckTime(MaxTime), "outside 1970..2099: 2100-01-01T00:00:00Z"},
		{"year 1", CheckTime(time.Time{}.Add(time.Hour)), "outside"},
		{"count 1.85000002384", CheckCount(1.85000002384), ""},
		{"count 0", CheckCount(0), ""},
		{"negative count", CheckCount(-1e-9), "must be >= 0"},
		{"NaN count", CheckCount(math.NaN()), "not a finite number"},
		{"infinite count", CheckCount(math.Inf(1)), "not a finite number"},
		{"NaN latency is absent", CheckLatency(math.NaN()), ""},
		{"negative latency", CheckLatency(-1), "must be >= 0"},
		{"ratio 1", KPIRatio.CheckValue(1), ""},
		{"ratio 99.5", KPIRatio.CheckValue(99.5), "a fraction, not a percentage"},
		{"negative rate", KPIRate.CheckValue(-2), "a rate must be >= 0"},
		{"negative latency KPI", KPILatency.CheckValue(-2), "a latency must be >= 0"},
		{"negative gauge", KPIGauge.CheckValue(-273.15), ""},
		{"infinite gauge", KPIGauge.CheckValue(math.Inf(-1)), "not a finite number"},
	}
	for _, tc := range tests {
		if tc.want == "" && tc.got != "" || tc.want != "" && !strings.Contains(tc.got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestRowValidation(t *testing.T) {
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	d := Deployment{ID: "d1", Service: "s", Environment: "e", Version: "v", StartedAt: at, FinishedAt: at}
	if err := d.Validate(); err != nil {
		t.Errorf("a big-bang deploy (finished = started): %v", err)
	}
	d.FinishedAt = at.Add(-time.Microsecond)
	var fe *FieldError
	if err := d.Validate(); !errors.As(err, &fe) || fe.Field != "finished_at" || !strings.Contains(fe.Reason, "before started_at") {
		t.Errorf("finished before started: %v", err)
	}
	m := Metric{Service: "s", Environment: "e", Minute: at, Requests: 1.5, Errors: 1.5, LatencyP50: math.NaN(), LatencyP95: math.NaN(), LatencyP99: math.NaN()}
	if err := m.Validate(); err != nil {
		t.Errorf("aggregate metric with errors = requests: %v", err)
	}
	m.Errors = math.Nextafter(1.5, 2)
	if err := m.Validate(); !errors.As(err, &fe) || fe.Field != "errors" {
		t.Errorf("errors above requests: %v", err)
	}
	k := KPI{Service: "s", Name: "k", Direction: "up", Kind: KPIGauge}
	if err := k.Validate(); !errors.As(err, &fe) || fe.Field != "direction" {
		t.Errorf("KPI direction up: %v", err)
	}
}

func TestKPIOfAndSpans(t *testing.T) {
	decls := []KPI{
		{Service: "s", Name: "ok", Kind: KPIRatio, Direction: LowerIsWorse},
		{Service: "s", Environment: "p", Name: "ok", Kind: KPIGauge, Direction: BothWorse},
		{Service: "t", Environment: "p", Name: "rps", Kind: KPIRate, Direction: BothWorse},
	}
	for _, tc := range []struct {
		st   Stream
		name string
		kind KPIKind
		ok   bool
	}{
		{Stream{"s", "p"}, "ok", KPIGauge, true},
		{Stream{"s", "q"}, "ok", KPIRatio, true},
		{Stream{"t", "p"}, "rps", KPIRate, true},
		{Stream{"t", "q"}, "rps", "", false},
		{Stream{"s", "p"}, "rps", "", false},
	} {
		k, ok := KPIOf(decls, tc.st, tc.name)
		if ok != tc.ok || k.Kind != tc.kind {
			t.Errorf("KPIOf(%v, %s) = %+v, %v", tc.st, tc.name, k, ok)
		}
	}
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	spans := KPISpans{}
	for _, v := range []KPIValue{
		{Service: "s", Environment: "q", Name: "ok", Minute: at, Value: 0.5},
		{Service: "s", Environment: "q", Name: "ok", Minute: at, Value: 1.5},
		{Service: "s", Environment: "p", Name: "ok", Minute: at, Value: 57},
		{Service: "t", Environment: "q", Name: "rps", Minute: at, Value: 1},
	} {
		spans.Add(&v)
	}
	err := CheckKPISpans(decls, spans)
	var ke *KPIValueError
	if !errors.As(err, &ke) || len(ke.Problems) != 2 {
		t.Fatalf("CheckKPISpans: %v", err)
	}
	if p := ke.Problems[0]; p.Service != "s" || p.Environment != "q" || p.Value != 1.5 || p.Undeclared {
		t.Errorf("first problem %+v", p)
	}
	if p := ke.Problems[1]; p.Service != "t" || !p.Undeclared {
		t.Errorf("second problem %+v", p)
	}
	if !strings.Contains(err.Error(), "and 1 more") {
		t.Errorf("error %q", err)
	}
}

func TestFloorMinuteAndSplitAggregate(t *testing.T) {
	at := time.Date(2017, 6, 1, 3, 37, 50, 999, time.FixedZone("x", 5400))
	if got := FloorMinute(at); !got.Equal(time.Date(2017, 6, 1, 2, 7, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("FloorMinute(%v) = %v", at, got)
	}
	ss := SeriesOf([]Metric{{Version: "v1", Minute: at, Requests: 1}, {Version: "", Minute: at, Requests: 2}})
	agg, per := SplitAggregate(ss)
	if agg == nil || agg.Requests[0] != 2 || len(per) != 1 || per[0].Version != "v1" {
		t.Errorf("SplitAggregate: %+v %+v", agg, per)
	}
	if agg, per := SplitAggregate(per); agg != nil || len(per) != 1 {
		t.Errorf("no aggregate: %+v %+v", agg, per)
	}
}
