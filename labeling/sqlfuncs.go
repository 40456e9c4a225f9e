package labeling

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrSQLNeedsPostgres is returned when SQL labeling functions are configured
// but the history is not in PostgreSQL.
var ErrSQLNeedsPostgres = errors.New("SQL labeling functions need the PostgreSQL history store (--db)")

// SQLFunctionError is the failure of one SQL labeling function.
type SQLFunctionError struct {
	Function string
	Err      error
}

func (e *SQLFunctionError) Error() string {
	return fmt.Sprintf("SQL labeling function %q: %v", e.Function, e.Err)
}

func (e *SQLFunctionError) Unwrap() error { return e.Err }

// sqlResult is the outcome of one SQL function.
type sqlResult struct {
	votes []int8
	// unknown counts returned deployment ids that are not labelled.
	unknown int
}

// runSQLFunctions runs every function against the database at dsn. index
// maps deployment ids to rows; n is the number of rows.
func runSQLFunctions(ctx context.Context, dsn string, fns []SQLFunction, timeout time.Duration, index map[string]int, n int) (map[string]sqlResult, error) {
	if len(fns) == 0 {
		return nil, nil
	}
	if dsn == "" {
		names := make([]string, len(fns))
		for i, f := range fns {
			names[i] = f.Name
		}
		return nil, fmt.Errorf("%w; the configuration declares %s", ErrSQLNeedsPostgres, strings.Join(names, ", "))
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("SQL labeling functions: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	out := make(map[string]sqlResult, len(fns))
	for _, f := range fns {
		res, err := runSQLFunction(ctx, conn, f, timeout, index, n)
		if err != nil {
			return nil, &SQLFunctionError{Function: f.Name, Err: err}
		}
		out[f.Name] = res
	}
	return out, nil
}

func runSQLFunction(ctx context.Context, conn *pgx.Conn, f SQLFunction, timeout time.Duration, index map[string]int, n int) (sqlResult, error) {
	// The client-side deadline backs up the server's statement timeout.
	ctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return sqlResult{}, fmt.Errorf("begin read-only transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to keep
	ms := max(int64(timeout/time.Millisecond), 1)
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(ms, 10)); err != nil {
		return sqlResult{}, fmt.Errorf("set statement timeout: %w", err)
	}
	rows, err := tx.Query(ctx, f.SQL)
	if err != nil {
		return sqlResult{}, describeSQLError(err, timeout)
	}
	defer rows.Close()
	if fd := rows.FieldDescriptions(); len(fd) != 2 {
		// Execution errors surface when the rows are read.
		rows.Close()
		if err := rows.Err(); err != nil {
			return sqlResult{}, describeSQLError(err, timeout)
		}
		return sqlResult{}, fmt.Errorf("query returns %d columns; it must return (deployment_id, vote)", len(fd))
	}
	res := sqlResult{votes: make([]int8, n)}
	for i := range res.votes {
		res.votes[i] = abstain
	}
	seen := map[string]int8{}
	row := 0
	for rows.Next() {
		row++
		vals, err := rows.Values()
		if err != nil {
			return sqlResult{}, fmt.Errorf("row %d: %w", row, err)
		}
		id, ok := vals[0].(string)
		if !ok {
			return sqlResult{}, fmt.Errorf("row %d: deployment_id is %T, want text", row, vals[0])
		}
		v, err := parseVote(vals[1])
		if err != nil {
			return sqlResult{}, fmt.Errorf("row %d (deployment %s): %w", row, id, err)
		}
		if prev, dup := seen[id]; dup {
			if prev != v {
				return sqlResult{}, fmt.Errorf("row %d: deployment %s returned twice with different votes (%d and %d)", row, id, prev, v)
			}
			continue
		}
		seen[id] = v
		i, ok := index[id]
		if !ok {
			res.unknown++
			continue
		}
		res.votes[i] = v
	}
	if err := rows.Err(); err != nil {
		return sqlResult{}, describeSQLError(err, timeout)
	}
	return res, nil
}

func describeSQLError(err error, timeout time.Duration) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57014": // query_canceled: the statement timeout
			return fmt.Errorf("%w (sql_timeout_seconds is %v)", err, timeout.Seconds())
		case "25006": // read_only_sql_transaction
			return fmt.Errorf("%w: labeling functions run read-only", err)
		}
	}
	return err
}

// parseVote accepts 1/0/-1 (any integer or numeric type), 'faulty',
// 'healthy', 'abstain' or their numbers as text, booleans (true faulty), and
// NULL (abstain).
func parseVote(v any) (int8, error) {
	bad := func() (int8, error) {
		return 0, fmt.Errorf("vote %v is not 1, 0, -1, 'faulty', 'healthy', 'abstain' or NULL", v)
	}
	var x int64
	switch t := v.(type) {
	case nil:
		return abstain, nil
	case bool:
		if t {
			return faulty, nil
		}
		return healthy, nil
	case int16:
		x = int64(t)
	case int32:
		x = int64(t)
	case int64:
		x = t
	case int8:
		x = int64(t)
	case float32:
		x = int64(t)
		if float32(x) != t {
			return bad()
		}
	case float64:
		x = int64(t)
		if float64(x) != t || math.IsNaN(t) {
			return bad()
		}
	case pgtype.Numeric:
		i, err := t.Int64Value()
		if err != nil || !i.Valid {
			if !t.Valid {
				return abstain, nil
			}
			return bad()
		}
		x = i.Int64
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "faulty", "1":
			return faulty, nil
		case "healthy", "0":
			return healthy, nil
		case "abstain", "-1", "":
			return abstain, nil
		}
		return bad()
	default:
		return bad()
	}
	switch x {
	case 1:
		return faulty, nil
	case 0:
		return healthy, nil
	case -1:
		return abstain, nil
	}
	return bad()
}
