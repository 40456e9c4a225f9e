package main

import (
	"github.com/faultline-dev/faultline/detector"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckSaysTheHistoryIsTooShort: without a production model, a change
// without a canary in a history's first days is inconclusive, and check's
// text says what the before/after checks lacked (too few pseudo-change
// points, a partial seasonal reference); a change with a week behind it
// gets no such line.
func TestCheckSaysTheHistoryIsTooShort(t *testing.T) {
	home := t.TempDir()
	h := "--home=" + home
	mustCLI(t, "simulate", h, "--regime", "aggregate-bigbang", "--services", "2", "--days", "6", "--seed", "4")
	pred := filepath.Join(home, "stat.csv")
	mustCLI(t, "predict", h, "--out", pred)
	recs := readCSV(t, pred)
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var early, late string
	var first time.Time
	for _, rec := range recs[1:] {
		at, err := time.Parse(time.RFC3339, rec[col["started_at"]])
		if err != nil {
			t.Fatal(err)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	for _, rec := range recs[1:] {
		at, _ := time.Parse(time.RFC3339, rec[col["started_at"]])
		switch day := int(at.Sub(first.Truncate(24*time.Hour)) / (24 * time.Hour)); {
		case day == 1 && early == "":
			early = rec[col["deployment_id"]]
		case day == 5 && late == "":
			late = rec[col["deployment_id"]]
		}
	}
	if early == "" || late == "" {
		t.Fatalf("no deploy on day 1 (%q) or day 5 (%q)", early, late)
	}

	code, out, errs := cli(t, "check", h, "--deployment", early)
	if code != exitInconclusive {
		t.Fatalf("check %s on the history's second day: exit %d, want %d (inconclusive)\n%s%s", early, code, exitInconclusive, out, errs)
	}
	for _, want := range []string{"the before/after checks could not judge this change", "needed (min_pseudo_points)", "of 3 seasonal reference days (reference_days)"} {
		if !strings.Contains(out, want) {
			t.Errorf("check %s lacks %q:\n%s", early, want, out)
		}
	}
	if _, out, _ := cli(t, "check", h, "--deployment", late); strings.Contains(out, "could not judge this change") {
		t.Errorf("check %s, five days in, says the history is too short:\n%s", late, out)
	}
}

// TestLookNote: check's note on a model's look never says that a look
// which flagged could not judge.
func TestLookNote(t *testing.T) {
	for _, tc := range []struct {
		s    detector.HorizonScore
		want string
	}{
		{detector.HorizonScore{}, ""},
		{detector.HorizonScore{Flagged: true}, ""},
		{detector.HorizonScore{Inconclusive: true}, "thin data: cannot judge"},
		{detector.HorizonScore{Inconclusive: true, Flagged: true}, "checks had thin data; flagged on other evidence"},
		{detector.HorizonScore{Inconclusive: true, FleetEvent: true}, "fleet event: cannot judge"},
	} {
		if got := lookNote(tc.s); got != tc.want {
			t.Errorf("lookNote(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
