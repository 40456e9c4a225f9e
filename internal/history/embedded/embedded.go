// Package embedded is the serverless history store: Parquet tables in a
// local folder (layout in docs/embedded-store.md).
package embedded

import (
	"context"
	"errors"

	"github.com/faultline-dev/faultline/internal/history"
)

// Open opens (creating when absent) the embedded store under home.
func Open(ctx context.Context, home string) (history.Store, error) {
	return nil, errors.New("embedded store: not yet implemented")
}
