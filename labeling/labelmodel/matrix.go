// Package labelmodel is a label model for binary weak supervision over a vote
// matrix: rows × labeling functions, each vote 1 (positive, "faulty"),
// 0 (negative, "healthy") or -1 (abstain). It knows nothing about
// deployments and can be used on any such matrix.
//
// The model is a latent-class model fitted by expectation–maximisation with
// closed-form updates. It estimates the class balance, the class-conditional
// vote distribution of every function (how often it votes positive,
// negative or abstains on each class) and the posterior P(positive) of every
// row. Functions that depend on each other beyond the class are modelled
// jointly, so that their agreement is not counted twice: groups declared by
// the caller as one joint factor over their joint vote pattern; dependencies
// found in the data (near-duplicate functions by default, any pair when
// asked, each kept only if it improves the likelihood of held-out rows) by
// modelling one function given another's vote and the class.
//
// Any number of functions is supported. The votes are packed a few
// functions to a byte (at most a fifth of the input's size), a matrix with
// few distinct vote patterns is compressed to them, and otherwise EM runs
// over the rows in parallel blocks, warm-started on deterministic
// subsamples. See docs/labeling.md for the model, its assumptions and its
// limits.
package labelmodel

import (
	"errors"
	"fmt"

	par "github.com/faultline-dev/faultline/internal/parallel"
)

// Votes.
const (
	Abstain  int8 = -1
	Negative int8 = 0 // "healthy"
	Positive int8 = 1 // "faulty"
)

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

// Validate checks that m has at least one uniquely named column, that all
// columns have the same length and that they hold only -1, 0 and 1.
func (m *Matrix) Validate() error {
	_, err := m.scan()
	return err
}

// support describes the votes one function was seen to cast. Its local
// index numbers them 0..n-1 in the order abstain, negative, positive.
type support struct {
	n     int     // distinct votes seen, ≥ 1 on a matrix with rows
	votes [3]int8 // votes seen, by local index
	local [4]int8 // local index of vote v at [vix(v)], -1 when unseen
}

// vix maps a vote to 0 (abstain), 1 (negative), 2 (positive).
func vix(v int8) uint8 { return uint8(v+1) & 3 }

// has reports whether the function was seen voting v.
func (s *support) has(v int8) bool { return s.local[vix(v)] >= 0 }

// scan validates m and returns the support of every function.
func (m *Matrix) scan() ([]support, error) {
	if len(m.Cols) == 0 {
		return nil, errors.New("vote matrix has no functions")
	}
	if len(m.Names) != len(m.Cols) {
		return nil, fmt.Errorf("vote matrix has %d names for %d columns", len(m.Names), len(m.Cols))
	}
	seen := make(map[string]bool, len(m.Names))
	n := len(m.Cols[0])
	for j, c := range m.Cols {
		name := m.Names[j]
		if name == "" {
			return nil, fmt.Errorf("vote matrix column %d has no name", j)
		}
		if seen[name] {
			return nil, fmt.Errorf("vote matrix names function %q twice", name)
		}
		seen[name] = true
		if len(c) != n {
			return nil, fmt.Errorf("function %q has %d votes, function %q has %d", name, len(c), m.Names[0], n)
		}
	}
	voted := make([][256]bool, len(m.Cols))
	parallel(len(m.Cols), func(_, j int) {
		s := &voted[j]
		for _, v := range m.Cols[j] {
			s[uint8(v)] = true
		}
	})
	sup := make([]support, len(m.Cols))
	for j := range voted {
		for x, ok := range voted[j] {
			if v := int8(uint8(x)); ok && (v < -1 || v > 1) {
				for i, w := range m.Cols[j] {
					if w == v {
						return nil, fmt.Errorf("function %q, row %d: vote %d is not -1, 0 or 1", m.Names[j], i, v)
					}
				}
			}
		}
		s := &sup[j]
		s.local = [4]int8{-1, -1, -1, -1}
		for x := range 3 {
			if voted[j][uint8(int8(x)-1)] {
				s.local[x] = int8(s.n)
				s.votes[s.n] = int8(x) - 1
				s.n++
			}
		}
	}
	return sup, nil
}

// parallel runs fn(worker, t) for t = 0..tasks-1 on up to GOMAXPROCS
// goroutines (internal/parallel). Tasks must write disjoint outputs; worker
// (0..workerCount(tasks)-1) indexes per-goroutine scratch space.
func parallel(tasks int, fn func(worker, task int)) {
	par.Do(tasks, 0, func(w, t int) error { fn(w, t); return nil })
}

// workerCount is the number of distinct worker ids parallel may pass for
// the given number of tasks.
func workerCount(tasks int) int { return par.Workers(tasks, 0) }

// pow3 returns 3^e.
func pow3(e int) int {
	p := 1
	for range e {
		p *= 3
	}
	return p
}

// splitmix64 is a fixed bijective hash of a row index, used to split rows
// into two folds deterministically.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
