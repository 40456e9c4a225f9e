package pgstore

import (
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/historytest"
)

// TestConformance runs the history-store conformance suite, each subtest on
// a fresh, migrated database.
func TestConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) history.Store {
		s, _ := newStore(t)
		return s
	})
}
