package embedded

import (
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/historytest"
)

// TestConformance runs the history-store conformance suite with staged rows
// kept in memory and with staged rows spilled every few batches.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"in memory", Options{}},
		{"spilled", Options{SpillBytes: 2000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			historytest.Run(t, func(t *testing.T) history.Store { return open(t, t.TempDir(), tc.opts) })
		})
	}
}
