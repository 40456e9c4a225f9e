package models

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// packRows packs column-major bins like binRows, for the given columns.
func packRows(cols [][]uint8, active []int, n int) []uint64 {
	kw := rowWords(len(active))
	out := make([]uint64, n*kw)
	for i := 0; i < n; i++ {
		for j, f := range active {
			out[i*kw+j>>3] |= uint64(cols[f][i]) << (8 * (j & 7))
		}
	}
	return out
}

func TestHistNodeMatchesOneColumnAtATime(t *testing.T) {
	// every column range of rows of 1 to 20 columns: whole words, half
	// words and single columns at both ends
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300
	for k := 1; k <= 20; k++ {
		cols := make([][]uint8, k)
		active := make([]int, k)
		for j := range cols {
			active[j] = j
			cols[j] = make([]uint8, n)
			for i := range cols[j] {
				cols[j][i] = uint8(rng.IntN(256))
			}
		}
		bins := packRows(cols, active, n)
		gh := make([]gradPair, n)
		for i := range gh {
			gh[i] = gradPair{rng.NormFloat64(), rng.Float64()}
		}
		for j0 := 0; j0 < k; j0++ {
			for j1 := j0 + 1; j1 <= k; j1++ {
				h := make([]featHist, k)
				c := make([]featCounts, k)
				hc := make([]featHist, k)
				histNode(h, bins, rowWords(k), j0, j1, gh)
				histNodeCounts(hc, c, bins, rowWords(k), j0, j1, gh)
				for j := 0; j < k; j++ {
					var want featHist
					var wantC featCounts
					if j >= j0 && j < j1 {
						for i, g := range gh { // in row order: the same sums, bit for bit
							e := &want[cols[j][i]]
							e.G += g.G
							e.H += g.H
							wantC[cols[j][i]]++
						}
					}
					if h[j] != want || hc[j] != want || c[j] != wantC {
						t.Fatalf("k=%d columns [%d, %d): column %d histogram differs", k, j0, j1, j)
					}
				}
			}
		}
	}
}

func TestSetHistGroupsCoversColumns(t *testing.T) {
	for k := 1; k <= 90; k++ {
		for _, threads := range []int{1, 2, 3, 4, 7} {
			tr := &trainer{k: k, threads: threads}
			tr.setHistGroups()
			next := 0
			for _, g := range tr.histGroups {
				if g.j0 != next || g.j1 <= g.j0 {
					t.Fatalf("k=%d threads=%d: groups %v do not tile the columns", k, threads, tr.histGroups)
				}
				next = g.j1
			}
			if next != k || len(tr.histGroups) < min(k, threads) {
				t.Fatalf("k=%d threads=%d: groups %v", k, threads, tr.histGroups)
			}
		}
	}
}

func TestNodeBuffersFollowRows(t *testing.T) {
	// grow trees and check every leaf: its rows are those the tree sends
	// there, in increasing order; and, for the leaves whose histograms were
	// built, the bins and gradient pairs moved with the rows, and the
	// histograms are those of the rows (within rounding: one of two
	// siblings is a subtraction)
	type tc struct {
		nf, threads, maxLeaves int
		subsample, colsample   float64
		minData                int
	}
	cases := []tc{
		{5, 1, 12, 1, 1, 0}, {5, 3, 12, 1, 1, 0}, {13, 2, 20, 0.7, 0.6, 0},
		{13, 1, 20, 0.7, 0.6, 0}, {40, 2, 31, 1, 1, 0}, {9, 4, 7, 1, 0.8, 20},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			d := synthData(40000, c.nf, uint64(c.nf), 0.2) // partitions of ≥ 16384 rows run in chunks
			p := smallParams()
			p.Threads, p.MaxLeaves, p.Subsample, p.ColsampleByTree, p.MinDataInLeaf = c.threads, c.maxLeaves, c.subsample, c.colsample, c.minData
			tr := newTrainer(p, d.Cols)
			score := make([]float64, d.Rows())
			tr.gradients(score, d, false)
			gh := slices.Clone(tr.gh) // without a row sample, partitions reuse tr.gh
			tree := tr.growTree(rand.New(rand.NewPCG(7, 1)))
			if tree.NumLeaves != c.maxLeaves {
				t.Fatalf("%d leaves, want %d", tree.NumLeaves, c.maxLeaves)
			}
			// the last split's children have no histograms, nor moved data
			last := map[int]bool{tree.NumLeaves - 1: true}
			node := tree.leafParent[tree.NumLeaves-1]
			last[int(^tree.LeftChild[node])] = true
			bt := tr.binnedTree(&tree)
			seen := 0
			used := make([]bool, tr.n)
			kw := tr.kw
			want := packRows(tr.bins, tr.active, tr.n)
			for l := 0; l < tree.NumLeaves; l++ {
				ls := tr.leaves[l]
				rows := tr.rowsBuf[ls.buf][ls.start : ls.start+ls.cnt]
				for i, r := range rows {
					if i > 0 && r <= rows[i-1] {
						t.Fatalf("leaf %d: rows not increasing at %d", l, i)
					}
					if got := bt.leaf(tr.bins, int(r)); got != l {
						t.Fatalf("row %d is in leaf %d's range, the tree sends it to %d", r, l, got)
					}
					if used[r] {
						t.Fatalf("row %d in two leaves", r)
					}
					used[r] = true
				}
				seen += len(rows)
				if last[l] {
					continue
				}
				var sumAbs float64
				for i, r := range rows {
					if got, w := tr.binsBuf[ls.buf][(ls.start+i)*kw:(ls.start+i+1)*kw], want[int(r)*kw:int(r+1)*kw]; !equalWords(got, w) {
						t.Fatalf("leaf %d row %d: bins %x, want %x", l, r, got, w)
					}
					if tr.ghBuf[ls.buf][ls.start+i] != gh[r] {
						t.Fatalf("leaf %d row %d: gradient pair moved wrong", l, r)
					}
					sumAbs += math.Abs(gh[r].G) + gh[r].H
				}
				for j, f := range tr.active {
					var h featHist
					for _, r := range rows {
						e := &h[tr.bins[f][r]]
						e.G += gh[r].G
						e.H += gh[r].H
					}
					for b := 0; b <= tr.mapper.numBins(f); b++ {
						got := tr.hists[l][j][b]
						if math.Abs(got.G-h[b].G) > 1e-9*sumAbs || math.Abs(got.H-h[b].H) > 1e-9*sumAbs {
							t.Fatalf("leaf %d feature %d bin %d: histogram %v, rows sum to %v", l, f, b, got, h[b])
						}
					}
				}
			}
			if c.subsample == 1 && seen != d.Rows() {
				t.Fatalf("leaves hold %d rows, want all %d", seen, d.Rows())
			}
			if c.subsample < 1 && (seen < d.Rows()/2 || seen == d.Rows()) {
				t.Fatalf("leaves hold %d of %d rows with subsample %v", seen, d.Rows(), c.subsample)
			}
		})
	}
}

func equalWords(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestThreadsGiveTheSameModelForAnyWidth(t *testing.T) {
	// feature counts around word (8) and half-word (4) boundaries, split
	// into histogram tasks of every shape; enough rows for the chunked
	// partition
	if testing.Short() {
		t.Skip("trains 56 models")
	}
	for _, nf := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 20, 27, 40} {
		d := synthData(20000, nf, uint64(50+nf), 0.2)
		p := smallParams()
		p.NumTrees = 3
		p.MinDataInLeaf = 0
		p.ColsampleByTree = 0.8
		var ref []byte
		for _, threads := range []int{1, 2, 3, 5} {
			p.Threads = threads
			m, _, err := Train(context.Background(), p, featureNames(nf), d, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.MarshalLightGBM()
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = b
			} else if !bytes.Equal(b, ref) {
				t.Fatalf("nf=%d threads=%d: model differs from threads=1", nf, threads)
			}
		}
	}
}
