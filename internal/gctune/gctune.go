// Package gctune holds the one setting of the Go garbage collector that
// Faultline's command applies to itself, so that the command and the
// benchmarks that measure its stages run with the same collector.
//
// Faultline's stages are batch jobs whose live heap is small next to the
// machine (extraction keeps one stream block per worker): with Go's default
// GOGC=100 the collector runs every time the heap doubles over that small
// live set, which cost about a fifth of extraction's CPU (docs/performance.md,
// "extraction"). A higher target trades a few hundred MiB for that CPU; the
// soft memory limit keeps the trade bounded on a large history, where the
// live heap is gigabytes: past the limit the collector runs as often as it
// needs, as it would by default.
package gctune

import (
	"os"
	"runtime/debug"
)

// Defaults applied by Apply, each unless its environment variable is set.
const (
	// Percent is the GC target (GOGC): the heap may grow to live × (1 + Percent/100).
	Percent = 400
	// MemoryLimit is the soft memory limit (GOMEMLIMIT), in bytes: 4 GiB,
	// under the 6 GB the nightly job must stay within at a million deploys.
	MemoryLimit = 4 << 30
)

// Settings is what Apply found or set.
type Settings struct {
	Percent     int   // the GC target in effect; -1 when GOGC=off
	MemoryLimit int64 // the soft memory limit in effect, bytes
	FromEnv     bool  // GOGC or GOMEMLIMIT was set and left alone
}

// Apply sets the collector to Percent and MemoryLimit. A GOGC or GOMEMLIMIT
// in the environment wins: the runtime has already read it, and Apply leaves
// that setting alone. It returns the settings in effect and a function
// that restores the previous ones (for tests and benchmarks).
func Apply() (Settings, func()) {
	s := Settings{}
	prevPercent := debug.SetGCPercent(-1)
	debug.SetGCPercent(prevPercent)
	prevLimit := debug.SetMemoryLimit(-1)
	s.Percent, s.MemoryLimit = prevPercent, prevLimit
	if _, ok := os.LookupEnv("GOGC"); ok {
		s.FromEnv = true
	} else {
		debug.SetGCPercent(Percent)
		s.Percent = Percent
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		s.FromEnv = true
	} else {
		debug.SetMemoryLimit(MemoryLimit)
		s.MemoryLimit = MemoryLimit
	}
	return s, func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}
}
