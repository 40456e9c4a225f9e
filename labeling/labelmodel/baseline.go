package labelmodel

import (
	"math"
	"sort"
)

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
func AUC(score []float64, truth []bool) float64 {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var nPos, nNeg float64
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && score[idx[j]] == score[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // mean of 1-based ranks i+1..j
		for _, r := range idx[i:j] {
			if truth[r] {
				rankSum += avg
				nPos++
			} else {
				nNeg++
			}
		}
		i = j
	}
	if nPos == 0 || nNeg == 0 {
		return math.NaN()
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg)
}

// Confusion counts hard labels against truth; rows labelled -1 are skipped.
type Confusion struct {
	TP, FP, TN, FN int
}

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

// Accuracy is the share of correct labels; NaN when empty.
func (c Confusion) Accuracy() float64 {
	return ratio(c.TP+c.TN, c.TP+c.TN+c.FP+c.FN)
}

// Precision is TP/(TP+FP); NaN when nothing was labelled positive.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN); NaN when there are no positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
