package labelmodel

import "github.com/faultline-dev/faultline/internal/metrics"

// MajorityVote is the reference the label model is measured against. Its
// score for a row is the share of positive votes among the non-abstaining
// ones, (pos − neg)/(pos + neg) mapped to [0, 1]; 0.5 when every function
// abstains. Its label is 1 when positive votes outnumber negative ones, 0
// otherwise (ties go to the negative class, which is the majority one in the
// rare-positive tasks this package targets), and -1 when every function
// abstains.
func MajorityVote(m *Matrix) (score []float64, label []int8) {
	n := m.Rows()
	pos := make([]int32, n)
	neg := make([]int32, n)
	for _, c := range m.Cols {
		c = c[:n]
		for i, v := range c {
			switch v {
			case Positive:
				pos[i]++
			case Negative:
				neg[i]++
			}
		}
	}
	score = make([]float64, n)
	label = make([]int8, n)
	for i := range n {
		p, q := pos[i], neg[i]
		switch {
		case p+q == 0:
			score[i], label[i] = 0.5, Abstain
			continue
		case p > q:
			label[i] = Positive
		default:
			label[i] = Negative
		}
		score[i] = float64(p) / float64(p+q)
	}
	return score, label
}

// AUC returns the area under the ROC curve of score against truth (the
// probability that a random positive scores above a random negative, ties
// counting one half). NaN when either class is empty.
func AUC(score []float64, truth []bool) float64 { return metrics.AUCLabels(score, truth) }

// Confusion counts hard labels against truth; rows labelled -1 are skipped.
// It has Accuracy, Precision, Recall and F1.
type Confusion = metrics.Confusion

// Count returns the confusion of label against truth.
func Count(label []int8, truth []bool) Confusion {
	var c Confusion
	for i, l := range label {
		switch {
		case l == Abstain:
		case l == Positive && truth[i]:
			c.TP++
		case l == Positive:
			c.FP++
		case truth[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}
