package quality

import (
	"fmt"
	"math"
	"slices"

	"github.com/faultline-dev/faultline/detector/batch"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/models/policy"
)

// Where recall is lost. Two measurements, both against the simulator's
// truth over every deploy, split the production policy's missed faults by
// cause:
//
//   - the run's weak labels (labels.parquet) against truth: faults the
//     labels miss are faults the models were never taught (TallyLabels);
//   - the ranking ceiling of the production models: the recall a policy
//     whose thresholds were chosen on truth itself reaches at the precision
//     floor (TallyOracle). It is an upper bound on what threshold choice
//     could give with these models, not a result: the gap between it and
//     the production recall is what threshold choice loses, the gap between
//     it and 1 what the models' ranking loses.

// WeakLabelThreshold is the label-model posterior from which a deploy's
// weak label counts as faulty (with at least one function voting).
const WeakLabelThreshold = 0.5

// FunctionVotes are one labeling function's votes against truth.
type FunctionVotes struct {
	Function string `json:"function"`
	// Faulty counts its faulty votes, FaultyOnFaults those on truth-faulty deploys.
	Faulty         int `json:"faulty_votes"`
	FaultyOnFaults int `json:"faulty_votes_on_faults"`
	// Healthy counts its healthy votes, HealthyOnFaults those on truth-faulty deploys.
	Healthy         int `json:"healthy_votes"`
	HealthyOnFaults int `json:"healthy_votes_on_faults"`
}

// Precision is the share of the function's faulty votes that fell on
// truth-faulty deploys, with its Wilson interval.
func (v FunctionVotes) Precision() metrics.Estimate {
	return metrics.Proportion(v.FaultyOnFaults, v.Faulty)
}

// LabelCounts are the raw tallies of a run's weak labels against truth over
// every deploy; they add up across seeds.
type LabelCounts struct {
	Deployments int `json:"deployments"`
	// Missing counts the deploys labels.parquet has no row for: not
	// labelled faulty, no function voted.
	Missing int `json:"missing"`
	// Confusion is the weak label (faulty: p_faulty ≥ WeakLabelThreshold
	// and a function voted) against truth.
	Confusion metrics.Confusion `json:"confusion"`
	// FaultsVotedFaulty counts the truth-faulty deploys on which at least
	// one function voted faulty; FaultsAbstained those on which every
	// function abstained.
	FaultsVotedFaulty int `json:"faults_voted_faulty"`
	FaultsAbstained   int `json:"faults_all_abstained"`
	// Functions are the votes of each labeling function, in labels.parquet's order.
	Functions []FunctionVotes `json:"functions"`
}

// Faults is the number of truth-faulty deploys counted.
func (c LabelCounts) Faults() int { return c.Confusion.TP + c.Confusion.FN }

// Add adds o's tallies to c; functions are matched by name, new ones appended.
func (c *LabelCounts) Add(o LabelCounts) {
	c.Deployments += o.Deployments
	c.Missing += o.Missing
	c.Confusion.TP += o.Confusion.TP
	c.Confusion.FP += o.Confusion.FP
	c.Confusion.TN += o.Confusion.TN
	c.Confusion.FN += o.Confusion.FN
	c.FaultsVotedFaulty += o.FaultsVotedFaulty
	c.FaultsAbstained += o.FaultsAbstained
	at := make(map[string]int, len(c.Functions))
	for i, f := range c.Functions {
		at[f.Function] = i
	}
	for _, f := range o.Functions {
		i, ok := at[f.Function]
		if !ok {
			at[f.Function] = len(c.Functions)
			c.Functions = append(c.Functions, FunctionVotes{Function: f.Function})
			i = len(c.Functions) - 1
		}
		g := &c.Functions[i]
		g.Faulty += f.Faulty
		g.FaultyOnFaults += f.FaultyOnFaults
		g.Healthy += f.Healthy
		g.HealthyOnFaults += f.HealthyOnFaults
	}
}

// TallyLabels measures weak labels l against truth over every deploy of
// truth; a deploy without a labels row counts as unlabelled with no votes.
// A labels row without truth is an error.
func TallyLabels(l *workdir.Labels, truth map[string]history.Truth) (LabelCounts, error) {
	c := LabelCounts{Functions: make([]FunctionVotes, len(l.Functions))}
	for f, name := range l.Functions {
		c.Functions[f].Function = name
		if len(l.Votes[f]) != len(l.IDs) {
			return c, fmt.Errorf("weak labels: %d votes of %s for %d deploys", len(l.Votes[f]), name, len(l.IDs))
		}
	}
	if len(l.PFaulty) != len(l.IDs) || len(l.Label) != len(l.IDs) {
		return c, fmt.Errorf("weak labels: %d p_faulty and %d labels for %d deploys", len(l.PFaulty), len(l.Label), len(l.IDs))
	}
	seen := make(map[string]bool, len(l.IDs))
	for i, id := range l.IDs {
		t, ok := truth[id]
		if !ok {
			return c, fmt.Errorf("weak labels: deployment %s has no ground truth", id)
		}
		if seen[id] {
			return c, fmt.Errorf("weak labels: deployment %s appears twice", id)
		}
		seen[id] = true
		c.Deployments++
		votedFaulty, voted := false, false
		for f := range l.Functions {
			switch l.Votes[f][i] {
			case 1:
				voted, votedFaulty = true, true
				c.Functions[f].Faulty++
				if t.Faulty {
					c.Functions[f].FaultyOnFaults++
				}
			case 0:
				voted = true
				c.Functions[f].Healthy++
				if t.Faulty {
					c.Functions[f].HealthyOnFaults++
				}
			}
		}
		faulty := l.Label[i] != -1 && l.PFaulty[i] >= WeakLabelThreshold
		c.Confusion.Add(faulty, t.Faulty)
		if t.Faulty {
			if votedFaulty {
				c.FaultsVotedFaulty++
			}
			if !voted {
				c.FaultsAbstained++
			}
		}
	}
	for id, t := range truth {
		if seen[id] {
			continue
		}
		c.Deployments++
		c.Missing++
		c.Confusion.Add(false, t.Faulty)
		if t.Faulty {
			c.FaultsAbstained++
		}
	}
	return c, nil
}

// LabelScore is the weak labels against truth: the counts and their figures.
type LabelScore struct {
	LabelCounts
	// Precision is the share of weak-labelled-faulty deploys that are
	// faulty; Recall the share of faults weak-labelled faulty.
	Precision metrics.Estimate `json:"precision"`
	Recall    metrics.Estimate `json:"recall"`
	// Coverage is the share of faults on which at least one function voted
	// faulty; Abstained the share on which every function abstained.
	Coverage  metrics.Estimate `json:"coverage"`
	Abstained metrics.Estimate `json:"all_abstained"`
	// FunctionPrecision is, per labeling function, FunctionVotes.Precision.
	FunctionPrecision map[string]metrics.Estimate `json:"function_faulty_vote_precision"`
}

// Score derives the figures of c.
func (c LabelCounts) Score() LabelScore {
	s := LabelScore{LabelCounts: c,
		Precision:         c.Confusion.PrecisionEstimate(),
		Recall:            c.Confusion.RecallEstimate(),
		Coverage:          metrics.Proportion(c.FaultsVotedFaulty, c.Faults()),
		Abstained:         metrics.Proportion(c.FaultsAbstained, c.Faults()),
		FunctionPrecision: make(map[string]metrics.Estimate, len(c.Functions)),
	}
	for _, f := range c.Functions {
		s.FunctionPrecision[f.Function] = f.Precision()
	}
	return s
}

// OracleCounts are the raw tallies of the oracle policy of one or more
// fleets: thresholds chosen on truth for precision ≥ the floor (point
// estimate) over every deploy. They add up across seeds.
type OracleCounts struct {
	// Floor is the precision the thresholds were chosen for (Floors.Precision).
	Floor float64 `json:"precision_floor"`
	// Fleets counts the fleets pooled, Met those where some policy reached
	// the floor; a fleet where none did counts as flagging nothing.
	Fleets int `json:"fleets"`
	Met    int `json:"floor_met"`
	// Horizons and Thresholds are the looks of the detector and the chosen
	// thresholds (one fleet only; thresholds absent when the floor was not met).
	Horizons   []int     `json:"horizons,omitempty"`
	Thresholds []float64 `json:"thresholds,omitempty"`
	// Confusion is the oracle policy's flags against truth.
	Confusion metrics.Confusion `json:"confusion"`
}

// Add adds o's tallies to c (the thresholds are per fleet: dropped).
func (c *OracleCounts) Add(o OracleCounts) {
	c.Floor = o.Floor
	c.Fleets += o.Fleets
	c.Met += o.Met
	c.Horizons, c.Thresholds = nil, nil
	c.Confusion.TP += o.Confusion.TP
	c.Confusion.FP += o.Confusion.FP
	c.Confusion.TN += o.Confusion.TN
	c.Confusion.FN += o.Confusion.FN
}

// OracleScore is the oracle policy against truth: the counts and their figures.
type OracleScore struct {
	OracleCounts
	Precision metrics.Estimate `json:"precision"`
	// Recall is the recall reached at precision ≥ Floor: the ceiling of
	// threshold choice with these models.
	Recall metrics.Estimate `json:"recall"`
}

// Score derives the figures of c.
func (c OracleCounts) Score() OracleScore {
	return OracleScore{OracleCounts: c, Precision: c.Confusion.PrecisionEstimate(), Recall: c.Confusion.RecallEstimate()}
}

// fleetEvent reports whether the production policy skips r's look at
// horizon h for a fleet event (detector.Result.FleetEventLooks): the oracle
// skips it too.
func fleetEvent(r batch.Row, h int) bool {
	return r.Result != nil && slices.Contains(r.Result.FleetEventLooks, h)
}

// TallyOracle chooses the thresholds of a policy over horizons on truth
// itself (policy.ChooseAt with y = truth, a precision target of floor,
// at least one fault flagged, judged on the point estimate) from the
// per-horizon probabilities of rows (without the looks the production
// policy skipped for a fleet event), and counts its flags against truth over
// every row. When no policy reaches the floor, the oracle flags nothing.
// A row without truth is an error.
func TallyOracle(horizons []int, rows []batch.Row, truth map[string]history.Truth, floor float64) (OracleCounts, error) {
	c := OracleCounts{Floor: floor, Fleets: 1, Horizons: horizons}
	probs := make([][]float64, len(rows))
	y := make([]float64, len(rows))
	for i, r := range rows {
		t, ok := truth[r.DeploymentID]
		if !ok {
			return c, fmt.Errorf("oracle: deployment %s has no ground truth", r.DeploymentID)
		}
		if t.Faulty {
			y[i] = 1
		}
		probs[i] = make([]float64, len(horizons))
		for j, h := range horizons {
			p, ok := r.P[h]
			if !ok || fleetEvent(r, h) {
				p = math.NaN() // no score, or a look the production policy skips
			}
			probs[i][j] = p
		}
	}
	ch, err := policy.ChooseAt(horizons, probs, y, policy.Target{Precision: floor}, 1, 0)
	if err != nil {
		return c, fmt.Errorf("oracle: %w", err)
	}
	if !ch.Met {
		for _, v := range y {
			c.Confusion.Add(false, v == 1)
		}
		return c, nil
	}
	c.Met, c.Thresholds = 1, ch.Thresholds
	pol := policy.Policy{Horizons: horizons, Thresholds: ch.Thresholds}
	for i, p := range probs {
		flagged, _ := pol.Decide(p)
		c.Confusion.Add(flagged, y[i] == 1)
	}
	return c, nil
}
