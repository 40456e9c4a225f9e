// Package progress reports the progress of long stages. Library packages
// receive a Func and call it; only cmd/faultline decides how progress is shown
// (a bar on a terminal, structured log lines otherwise).
package progress

// Func is called with the number of units done out of total (total is 0 when
// unknown). Implementations must be safe for concurrent use and cheap:
// callers may call it once per unit of work.
type Func func(stage string, done, total int64)

// Nop discards progress.
func Nop(string, int64, int64) {}

// Or returns f, or Nop when f is nil.
func Or(f Func) Func {
	if f == nil {
		return Nop
	}
	return f
}
