package train

import (
	"hash/fnv"

	"github.com/faultline-dev/faultline/models"
)

// The training split of a large history is bounded at Config.MaxTrainRows
// rows by sampling the rows labelled healthy.
//
// Assumption: beyond a few hundred thousand deployments the models'
// capacity (a few hundred trees of MaxLeaves leaves) is the limit, not the
// number of healthy examples, while training time grows with every row
// (docs/models.md, "Training rows"). Faults are rare and are what the
// models learn from, so every row whose label says faulty (y ≥ 0.5) is
// kept; the others are kept with probability r and weigh 1/r, the
// inverse of that probability (a Horvitz–Thompson sample): the weighted
// loss is an unbiased estimate of the loss on every row, so the models
// still estimate P(faulty) of the whole split, and the policy's thresholds
// and calibration, chosen on the validation split, which is never sampled,
// are unaffected. A row is kept when a hash of its deployment id and seed
// falls below r: the same deployments at every horizon, the same sample
// however the rows were ordered or sharded. Rows are dropped while they are
// gathered (splitRows), so the whole split is never held in memory.

// healthyRate returns the rate at which rows labelled healthy are kept
// when the training split has n rows of which pos are labelled faulty: 1
// (keep every row) when n ≤ maxRows, maxRows is 0, or the faulty rows
// alone reach maxRows.
func healthyRate(n, pos, maxRows int) float64 {
	neg := n - pos
	if maxRows <= 0 || n <= maxRows || neg <= 0 || pos >= maxRows {
		return 1
	}
	return float64(maxRows-pos) / float64(neg)
}

// keep reports whether deployment id is in the sample of rate r.
func keep(id string, seed uint64, r float64) bool {
	if r >= 1 {
		return true
	}
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(id))
	// splitmix64's finaliser spreads every input bit over the top bits,
	// read as a uniform number in [0, 1).
	x := h.Sum64()
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < r
}

// reweigh multiplies the weight of every row of d labelled healthy by 1/r,
// the inverse of the rate it was kept at. d.W must be set.
func reweigh(d *models.Data, r float64) {
	if r >= 1 {
		return
	}
	for i, y := range d.Y {
		if y < 0.5 {
			d.W[i] /= r
		}
	}
}
