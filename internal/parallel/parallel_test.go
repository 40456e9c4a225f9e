package parallel

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestDo(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 7} {
		const n = 1000
		var runs [n]atomic.Int32
		maxWorker := atomic.Int32{}
		err := Do(n, workers, func(w, i int) error {
			runs[i].Add(1)
			for {
				m := maxWorker.Load()
				if int32(w) <= m || maxWorker.CompareAndSwap(m, int32(w)) {
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		for i := range runs {
			if c := runs[i].Load(); c != 1 {
				t.Fatalf("workers %d: task %d ran %d times", workers, i, c)
			}
		}
		if w := int(maxWorker.Load()); w >= Workers(n, workers) {
			t.Errorf("workers %d: worker id %d, Workers says %d", workers, w, Workers(n, workers))
		}
	}
	if Workers(0, 4) != 1 || Workers(3, 8) != 3 || Workers(100, 2) != 2 {
		t.Errorf("Workers: %d %d %d", Workers(0, 4), Workers(3, 8), Workers(100, 2))
	}
}

func TestDoStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	for _, workers := range []int{1, 2} {
		var ran atomic.Int32
		err := Do(100000, workers, func(_, i int) error {
			ran.Add(1)
			if i == 10 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("workers %d: err %v", workers, err)
		}
		if r := ran.Load(); r >= 100000 {
			t.Errorf("workers %d: all %d tasks ran after an error", workers, r)
		}
	}
}
