package labeling

import (
	"fmt"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/metrics"
	"github.com/faultline-dev/faultline/internal/workdir"
	"github.com/faultline-dev/faultline/labeling/labelmodel"
)

// ReportSchema identifies the lf_report.json format.
const ReportSchema = "fl-lf-report-v1"

// Report is lf_report.json: how each labeling function votes, what the label
// model learned about it and, where annotations exist, how it fares against
// them. Shares are of all rows unless said otherwise.
type Report struct {
	Schema string `json:"schema"`
	// Rows counts the labelled deployments; Labelled those with label ≠ -1;
	// Faulty those with label 1.
	Rows     int `json:"rows"`
	Labelled int `json:"labelled"`
	Faulty   int `json:"faulty"`
	// ClassBalance is the label model's estimate of the share of faulty deployments.
	ClassBalance metrics.Float       `json:"class_balance"`
	Model        labelmodel.FitInfo  `json:"model"`
	Functions    []FunctionReport    `json:"functions"`
	Annotations  *AnnotationsSummary `json:"annotations"` // null when no annotated deployment was labelled
	// Warnings are the report's own findings (the label model's are in
	// Model.Warnings): a function whose lone votes the annotations
	// contradict (loneWarning).
	Warnings []string `json:"warnings,omitempty"`
}

// FunctionReport describes one labeling function.
type FunctionReport struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // "builtin" or "sql"
	Description string `json:"description"`
	// Polarity: "faulty" (votes faulty only), "healthy", "both" or "none".
	Polarity string `json:"polarity"`
	Votes    struct {
		Faulty  int `json:"faulty"`
		Healthy int `json:"healthy"`
		Abstain int `json:"abstain"`
	} `json:"votes"`
	// Coverage: share of rows it votes on. Overlap: share of rows where it
	// and at least one other function vote. Conflict: share of rows where it
	// votes and another function votes the other class.
	Coverage metrics.Float `json:"coverage"`
	Overlap  metrics.Float `json:"overlap"`
	Conflict metrics.Float `json:"conflict"`
	// Group lists the functions the label model models jointly with this one.
	Group     []string   `json:"group"`
	Estimated Estimated  `json:"estimated"`
	Empirical *Empirical `json:"empirical"` // null without annotated deployments it voted on
	// Lone describes the deployments on which this function cast the only
	// faulty vote and no function voted healthy (null when there is none).
	Lone *LoneVotes `json:"lone"`
	// UnknownDeployments counts ids returned by an SQL function that are not
	// among the labelled deployments.
	UnknownDeployments int `json:"unknown_deployments,omitempty"`
}

// Estimated is the label model's view of a function. GivenFaulty is the
// distribution of its vote on faulty deployments (GivenFaulty.Faulty is
// P(vote=faulty | faulty)), GivenHealthy on healthy ones. FaultyPrecision is
// P(faulty | vote=faulty), HealthyPrecision P(healthy | vote=healthy) — the
// per-class accuracy of its votes, null when it never votes that class;
// Accuracy is P(vote correct | it votes).
type Estimated struct {
	GivenFaulty      Dist          `json:"given_faulty"`
	GivenHealthy     Dist          `json:"given_healthy"`
	FaultyPrecision  metrics.Float `json:"faulty_precision"`
	HealthyPrecision metrics.Float `json:"healthy_precision"`
	Accuracy         metrics.Float `json:"accuracy"`
}

// Dist is a vote distribution.
type Dist struct {
	Faulty  metrics.Float `json:"faulty"`
	Healthy metrics.Float `json:"healthy"`
	Abstain metrics.Float `json:"abstain"`
}

// Empirical measures a function against annotations: among the annotated
// deployments it voted on, how many votes were right, overall and per class
// of vote (FaultyPrecision = right faulty votes / faulty votes).
type Empirical struct {
	Annotated        int           `json:"annotated"`
	Correct          int           `json:"correct"`
	Accuracy         metrics.Float `json:"accuracy"`
	FaultyVotes      int           `json:"faulty_votes"`
	FaultyCorrect    int           `json:"faulty_correct"`
	FaultyPrecision  metrics.Float `json:"faulty_precision"`
	HealthyVotes     int           `json:"healthy_votes"`
	HealthyCorrect   int           `json:"healthy_correct"`
	HealthyPrecision metrics.Float `json:"healthy_precision"`
}

// AnnotationsSummary measures the labels against annotations. A deployment
// counts when it is among the rows, with the verdict evaluation, training
// and the gate give it (history.GoldLabels: the annotators' majority, the
// latest annotation on an even split); Conflicting counts the even splits
// among them.
type AnnotationsSummary struct {
	Deployments  int          `json:"deployments"`
	Faulty       int          `json:"faulty"`
	Healthy      int          `json:"healthy"`
	Conflicting  int          `json:"conflicting"`
	LabelModel   LabelQuality `json:"label_model"`
	MajorityVote LabelQuality `json:"majority_vote"`
}

// LabelQuality is hard-label quality against a reference (rows labelled -1
// are not counted but reported as Unlabelled) and the AUC of the score over
// every annotated row.
type LabelQuality struct {
	Unlabelled int           `json:"unlabelled"`
	TP         int           `json:"tp"`
	FP         int           `json:"fp"`
	TN         int           `json:"tn"`
	FN         int           `json:"fn"`
	Accuracy   metrics.Float `json:"accuracy"`
	Precision  metrics.Float `json:"precision"`
	Recall     metrics.Float `json:"recall"`
	F1         metrics.Float `json:"f1"`
	AUC        metrics.Float `json:"auc"`
}

// LoneVotes is a function's faulty votes cast alone: no other function
// voted faulty and none voted healthy, so the label — PFaulty, the label
// model's mean p_faulty over them (one vote pattern: one value) — rests on
// how far the model trusts this function by its agreement with the others
// elsewhere, which says least where it votes alone. Annotated of them were
// annotated, AnnotatedFaulty of those as faulty: set beside PFaulty, the
// check of that trust (docs/labeling.md, "The label model", Limits).
type LoneVotes struct {
	Deployments     int           `json:"deployments"`
	PFaulty         metrics.Float `json:"p_faulty"`
	Annotated       int           `json:"annotated"`
	AnnotatedFaulty int           `json:"annotated_faulty"`
}

// Quality measures hard labels and scores against truth.
func Quality(label []int8, score []float64, truth []bool) LabelQuality {
	c := labelmodel.Count(label, truth)
	q := LabelQuality{TP: c.TP, FP: c.FP, TN: c.TN, FN: c.FN, Accuracy: metrics.Float(c.Accuracy()), Precision: metrics.Float(c.Precision()),
		Recall: metrics.Float(c.Recall()), F1: metrics.Float(c.F1()), AUC: metrics.Float(labelmodel.AUC(score, truth))}
	for _, l := range label {
		if l == labelmodel.Abstain {
			q.Unlabelled++
		}
	}
	return q
}

// buildReport builds lf_report.json from res, whose Gold column is the
// annotations' verdicts, annRows and summary annotatedRows'.
func buildReport(cfg *Config, res *Result, annRows []int, summary *AnnotationsSummary, sqlRes map[string]sqlResult) *Report {
	m := res.Votes
	n := m.Rows()
	rep := &Report{Schema: ReportSchema, Rows: n, ClassBalance: metrics.Float(res.Model.ClassBalance()), Model: res.Model.Info()}
	for _, l := range res.Label {
		if l != labelmodel.Abstain {
			rep.Labelled++
		}
		if l == labelmodel.Positive {
			rep.Faulty++
		}
	}
	truthRow := res.Gold
	pos, neg := voteCounts(m.Cols, n)
	est := res.Model.Functions()
	sqlDesc := map[string]string{}
	for _, f := range cfg.SQLFunctions {
		sqlDesc[f.Name] = f.Description
	}
	for j, name := range m.Names {
		fr := functionReport(m.Cols[j], pos, neg, truthRow, res.PFaulty, est[j])
		fr.Name, fr.Kind = name, "builtin"
		if f := cfg.Function(name); f != nil {
			fr.Description = f.Description()
		}
		if d, ok := sqlDesc[name]; ok {
			fr.Kind, fr.Description = "sql", d
			fr.UnknownDeployments = sqlRes[name].unknown
		}
		rep.Functions = append(rep.Functions, fr)
		if w := loneWarning(fr); w != "" {
			rep.Warnings = append(rep.Warnings, w)
		}
	}
	if len(annRows) > 0 {
		summary.Deployments = len(annRows)
		truth := make([]bool, len(annRows))
		lab := make([]int8, len(annRows))
		p := make([]float64, len(annRows))
		mvl := make([]int8, len(annRows))
		mvs := make([]float64, len(annRows))
		for a, i := range annRows {
			truth[a] = truthRow[i] == 1
			lab[a], p[a] = res.Label[i], res.PFaulty[i]
			mvl[a], mvs[a] = res.MajorityLabel[i], res.MajorityScore[i]
		}
		summary.LabelModel = Quality(lab, p, truth)
		summary.MajorityVote = Quality(mvl, mvs, truth)
		rep.Annotations = summary
	}
	return rep
}

// loneWarning says when the annotations of a function's lone faulty votes
// contradict the label model's p_faulty over them (workdir.LoneRevision:
// at least workdir.MinLoneAnnotated annotated, p_faulty outside their
// share's Wilson 95% interval). Empty otherwise.
func loneWarning(fr FunctionReport) string {
	l := fr.Lone
	if l == nil {
		return ""
	}
	p := float64(l.PFaulty)
	if _, contradicted := workdir.LoneRevision(p, l.AnnotatedFaulty, l.Annotated); !contradicted {
		return ""
	}
	e := metrics.Proportion(l.AnnotatedFaulty, l.Annotated)
	how := "more"
	if p < e.Lo {
		how = "less"
	}
	return fmt.Sprintf("function %s: its %d faulty votes cast alone get p_faulty %.2f, but %d of the %d annotated were faulty (95%% interval %.2f–%.2f): "+
		"the label model trusts it alone %s than the annotations do (training revises the targets of the unannotated ones "+
		"when the annotations of its training and validation splits say so: train.annotations: use)",
		fr.Name, l.Deployments, p, l.AnnotatedFaulty, l.Annotated, e.Lo, e.Hi, how)
}

// voteCounts returns each of the n rows' count of faulty and of healthy
// votes over the functions' columns: for overlap, conflict and lone votes.
func voteCounts(cols [][]int8, n int) (pos, neg []int16) {
	pos, neg = make([]int16, n), make([]int16, n)
	for _, c := range cols {
		for i, v := range c {
			switch v {
			case faulty:
				pos[i]++
			case healthy:
				neg[i]++
			}
		}
	}
	return pos, neg
}

// annotatedRows returns per row the annotations' verdict (history.GoldVerdicts:
// 1 faulty, 0 healthy, workdir.GoldNone without one; labels.parquet's gold
// column), the rows with a verdict, and the summary's counts.
func annotatedRows(ids []string, verdict map[string]history.Gold) ([]int8, []int, *AnnotationsSummary) {
	truthRow := make([]int8, len(ids))
	var annRows []int
	summary := &AnnotationsSummary{}
	for i, id := range ids {
		truthRow[i] = workdir.GoldNone
		v, ok := verdict[id]
		if ok && v.Tie {
			summary.Conflicting++
		}
		switch {
		case !ok:
		case v.Faulty:
			truthRow[i] = 1
			summary.Faulty++
			annRows = append(annRows, i)
		default:
			truthRow[i] = 0
			summary.Healthy++
			annRows = append(annRows, i)
		}
	}
	return truthRow, annRows, summary
}

// functionReport describes the votes col of one function (all but its
// name, kind and description): pos and neg count each row's faulty and
// healthy votes over every function (a faulty vote with pos 1 and neg 0 is
// lone: workdir.LoneFaulty's rule on the counts), truthRow is
// annotatedRows', pFaulty the label model's posterior of each row, e its
// estimates.
func functionReport(col []int8, pos, neg []int16, truthRow []int8, pFaulty []float64, e labelmodel.FunctionEstimate) FunctionReport {
	n := len(col)
	var fr FunctionReport
	var overlap, conflict int
	emp := Empirical{}
	lone, loneP := LoneVotes{}, 0.0
	for i, v := range col {
		switch v {
		case faulty:
			fr.Votes.Faulty++
			if pos[i] == 1 && neg[i] == 0 {
				lone.Deployments++
				loneP += pFaulty[i]
				if t := truthRow[i]; t >= 0 {
					lone.Annotated++
					if t == 1 {
						lone.AnnotatedFaulty++
					}
				}
			}
			if pos[i]+neg[i] > 1 {
				overlap++
			}
			if neg[i] > 0 {
				conflict++
			}
		case healthy:
			fr.Votes.Healthy++
			if pos[i]+neg[i] > 1 {
				overlap++
			}
			if pos[i] > 0 {
				conflict++
			}
		default:
			fr.Votes.Abstain++
			continue
		}
		if t := truthRow[i]; t >= 0 {
			emp.Annotated++
			if v == faulty {
				emp.FaultyVotes++
			} else {
				emp.HealthyVotes++
			}
			if v == t {
				emp.Correct++
				if v == faulty {
					emp.FaultyCorrect++
				} else {
					emp.HealthyCorrect++
				}
			}
		}
	}
	fr.Coverage = metrics.Float(float64(fr.Votes.Faulty+fr.Votes.Healthy) / float64(n))
	fr.Overlap = metrics.Float(float64(overlap) / float64(n))
	fr.Conflict = metrics.Float(float64(conflict) / float64(n))
	switch e.Polarity {
	case "positive":
		fr.Polarity = "faulty"
	case "negative":
		fr.Polarity = "healthy"
	default:
		fr.Polarity = e.Polarity
	}
	fr.Group = e.Group
	fr.Estimated = Estimated{
		GivenFaulty:      Dist{Faulty: metrics.Float(e.GivenPositive.Positive), Healthy: metrics.Float(e.GivenPositive.Negative), Abstain: metrics.Float(e.GivenPositive.Abstain)},
		GivenHealthy:     Dist{Faulty: metrics.Float(e.GivenNegative.Positive), Healthy: metrics.Float(e.GivenNegative.Negative), Abstain: metrics.Float(e.GivenNegative.Abstain)},
		FaultyPrecision:  metrics.Float(e.PositivePrecision),
		HealthyPrecision: metrics.Float(e.NegativePrecision),
		Accuracy:         metrics.Float(e.Accuracy),
	}
	if emp.Annotated > 0 {
		emp.Accuracy = metrics.Float(metrics.Ratio(emp.Correct, emp.Annotated))
		emp.FaultyPrecision = metrics.Float(metrics.Ratio(emp.FaultyCorrect, emp.FaultyVotes))
		emp.HealthyPrecision = metrics.Float(metrics.Ratio(emp.HealthyCorrect, emp.HealthyVotes))
		fr.Empirical = &emp
	}
	if lone.Deployments > 0 {
		lone.PFaulty = metrics.Float(loneP / float64(lone.Deployments))
		fr.Lone = &lone
	}
	return fr
}
