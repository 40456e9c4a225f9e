// Package embeddedtest opens embedded history stores for tests of the
// packages that read or write history. It lives apart from historytest,
// which the embedded store's own tests import.
package embeddedtest

import (
	"context"
	"testing"

	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/history/embedded"
)

// Open opens an empty embedded store in a temporary directory of t; it is
// closed when the test ends.
func Open(t testing.TB) history.Store {
	t.Helper()
	st, err := embedded.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
