// Package labelmodel is a label model for binary weak supervision over a vote
// matrix: rows × labeling functions, each vote 1 (positive, "faulty"),
// 0 (negative, "healthy") or -1 (abstain). It knows nothing about
// deployments and can be used on any such matrix.
//
// The model is a latent-class model fitted by expectation–maximisation with
// closed-form updates over the unique vote patterns of the matrix (at most
// 3^k of them for k functions, however many rows there are). It estimates
// the class balance, the class-conditional vote distribution of every
// function (how often it votes positive, negative or abstains on each class)
// and the posterior P(positive) of every row. Functions that depend on each
// other beyond the class — declared by the caller or detected from the
// model's residuals — are modelled as one joint factor over their joint vote
// pattern, so that their agreement is not counted twice. See
// docs/labeling.md for the model, its assumptions and its limits.
package labelmodel

import (
	"errors"
	"fmt"
)

// Votes.
const (
	Abstain  int8 = -1
	Negative int8 = 0 // "healthy"
	Positive int8 = 1 // "faulty"
)

// MaxFunctions is the largest number of functions a matrix may have: vote
// patterns are encoded as base-3 numbers in a uint64.
const MaxFunctions = 40

// Matrix is a vote matrix stored by column: Cols[j][i] is the vote of
// function j on row i. All columns have the same length.
type Matrix struct {
	Names []string
	Cols  [][]int8
}

// Rows returns the number of rows of m.
func (m *Matrix) Rows() int {
	if len(m.Cols) == 0 {
		return 0
	}
	return len(m.Cols[0])
}

// Validate checks that m has 1..MaxFunctions uniquely named columns of equal
// length holding only -1, 0 and 1.
func (m *Matrix) Validate() error {
	if len(m.Cols) == 0 {
		return errors.New("vote matrix has no functions")
	}
	if len(m.Cols) > MaxFunctions {
		return fmt.Errorf("vote matrix has %d functions, at most %d are supported", len(m.Cols), MaxFunctions)
	}
	if len(m.Names) != len(m.Cols) {
		return fmt.Errorf("vote matrix has %d names for %d columns", len(m.Names), len(m.Cols))
	}
	seen := make(map[string]bool, len(m.Names))
	n := len(m.Cols[0])
	for j, c := range m.Cols {
		name := m.Names[j]
		if name == "" {
			return fmt.Errorf("vote matrix column %d has no name", j)
		}
		if seen[name] {
			return fmt.Errorf("vote matrix names function %q twice", name)
		}
		seen[name] = true
		if len(c) != n {
			return fmt.Errorf("function %q has %d votes, function %q has %d", name, len(c), m.Names[0], n)
		}
		for i, v := range c {
			if v < -1 || v > 1 {
				return fmt.Errorf("function %q, row %d: vote %d is not -1, 0 or 1", name, i, v)
			}
		}
	}
	return nil
}

// pow3 returns 3^e.
func pow3(e int) uint64 {
	p := uint64(1)
	for range e {
		p *= 3
	}
	return p
}

// encodeRows writes into codes (len = rows) the base-3 pattern code of every
// row: digit j (weight 3^j) is vote_j + 1.
func encodeRows(cols [][]int8, codes []uint64) {
	for i := range codes {
		codes[i] = 0
	}
	w := uint64(1)
	for _, c := range cols {
		c = c[:len(codes)]
		for i, v := range c {
			codes[i] += w * uint64(v+1)
		}
		w *= 3
	}
}
