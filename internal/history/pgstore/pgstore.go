// Package pgstore is the PostgreSQL history store.
package pgstore

import (
	"context"
	"errors"

	"github.com/faultline-dev/faultline/internal/history"
)

// Open connects to the database at dsn.
func Open(ctx context.Context, dsn string) (history.Store, error) {
	return nil, errors.New("postgres store: not yet implemented")
}
