package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// predict --truth scores the verdicts it wrote against the simulator's
// truth: its confusion counts add up to the rows of the CSV and their
// verdicts, and the text says what the figures are measured against.
func TestPredictAgainstTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and extracts; skipped with -short")
	}
	home := t.TempDir()
	h := "--home=" + home
	mustCLI(t, "simulate", h, "--services", "6", "--days", "5", "--fault-rate", "0.15")

	pred := filepath.Join(home, "pred.csv")
	out := mustCLI(t, "predict", h, "--out", pred, "--truth", "--json")
	var sum struct {
		Deployments int `json:"deployments"`
		Truth       struct {
			Deployments int `json:"deployments"`
			Confusion   struct {
				TP, FP, TN, FN int
			} `json:"confusion"`
			Precision struct {
				K, N int
			} `json:"precision"`
		} `json:"against_truth"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("predict --truth --json: %v\n%s", err, out)
	}
	recs := readCSV(t, pred)
	verdict := -1
	for i, c := range recs[0] {
		if c == "verdict" {
			verdict = i
		}
	}
	flagged := 0
	for _, rec := range recs[1:] {
		if rec[verdict] == "faulty" {
			flagged++
		}
	}
	c := sum.Truth.Confusion
	if got := c.TP + c.FP + c.TN + c.FN; got != len(recs)-1 || sum.Truth.Deployments != len(recs)-1 || sum.Deployments != len(recs)-1 {
		t.Fatalf("against truth: %d deployments in the confusion, %d reported, %d rows in the CSV", got, sum.Truth.Deployments, len(recs)-1)
	}
	if c.TP+c.FP != flagged || sum.Truth.Precision.N != flagged || sum.Truth.Precision.K != c.TP {
		t.Fatalf("against truth: %d true and %d false flags, precision %d/%d; the CSV has %d faulty verdicts", c.TP, c.FP, sum.Truth.Precision.K, sum.Truth.Precision.N, flagged)
	}
	if c.TP+c.FN == 0 {
		t.Fatal("the simulated fleet has no fault: the test cannot check recall")
	}
	text := mustCLI(t, "predict", h, "--out", pred, "--truth")
	if !strings.Contains(text, "against the simulator's truth") || !strings.Contains(text, "recall") {
		t.Fatalf("predict --truth text does not give the figures against truth: %s", text)
	}
}
