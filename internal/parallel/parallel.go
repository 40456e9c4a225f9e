// Package parallel runs independent tasks on a bounded number of
// goroutines: the one work queue of the stages that split deploys,
// streams or blocks among the machine's cores.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns how many goroutines Do starts for n tasks when asked
// for workers (≤ 0: GOMAXPROCS): at least 1, at most n. Worker ids passed
// to the tasks are below it, so that callers can size per-worker scratch.
func Workers(n, workers int) int {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return max(1, min(workers, n))
}

// Do runs fn(worker, i) for every i in [0, n), each at most once, on
// Workers(n, workers) goroutines taking the next index in turn (one
// goroutine: in order, on the caller's). Tasks must write disjoint
// outputs; results must not depend on which worker ran a task. After a
// task fails no new task starts, and Do returns the error of the
// lowest-numbered worker that failed.
func Do(n, workers int, fn func(worker, i int) error) error {
	w := Workers(n, workers)
	if w == 1 {
		for i := range n {
			if err := fn(0, i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	errs := make([]error, w)
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(k, i); err != nil {
					errs[k] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
