package labeling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/faultline-dev/faultline/migrations"
)

// ErrSQLNeedsPostgres is returned when SQL labeling functions are configured
// but the history is not in PostgreSQL.
var ErrSQLNeedsPostgres = errors.New("SQL labeling functions need the PostgreSQL history store (--db)")

// ErrPrivilegedRole is returned, wrapped with the reasons, when the session
// that SQL labeling functions would run in could do more than read the
// history — write or execute on the server, read its files, signal other
// sessions, or read annotations — and labeling.sql_unsafe_allow_privileged_role
// is not set. See docs/security.md, "SQL labeling functions".
var ErrPrivilegedRole = errors.New("SQL labeling functions: refusing a database role that can do more than read the history")

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
	// unknown counts the result rows naming deployments that are not
	// labelled (rows, not distinct ids: counting distinct ids would take
	// memory growing with the result).
	unknown int
}

// sqlDSN returns the connection string SQL functions use: labeling.sql_dsn,
// or the history's. SQL functions need the history in PostgreSQL even when
// sql_dsn is set: they label the history's deployments.
func sqlDSN(cfg *Config, historyDSN string) (string, error) {
	if historyDSN == "" {
		names := make([]string, len(cfg.SQLFunctions))
		for i, f := range cfg.SQLFunctions {
			names[i] = f.Name
		}
		return "", fmt.Errorf("%w; the configuration declares %s", ErrSQLNeedsPostgres, strings.Join(names, ", "))
	}
	if cfg.SQLDSN != "" {
		return cfg.SQLDSN, nil
	}
	return historyDSN, nil
}

// preflightSQLFunctions checks, before any work, that the configured SQL
// functions can run: the history is in PostgreSQL and the session they would
// run in passes checkSession. It does nothing without SQL functions.
func preflightSQLFunctions(ctx context.Context, cfg *Config, historyDSN string) error {
	if len(cfg.SQLFunctions) == 0 {
		return nil
	}
	dsn, err := sqlDSN(cfg, historyDSN)
	if err != nil {
		return err
	}
	conn, err := connectSQL(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = checkSession(ctx, conn, cfg.SQLUnsafeAllowPrivilegedRole)
	return err
}

// runSQLFunctions runs cfg's SQL functions against the history at
// historyDSN (through labeling.sql_dsn when set), each in its own read-only
// transaction with a statement timeout, after checkSession. index maps
// deployment ids to rows; n is the number of rows.
func runSQLFunctions(ctx context.Context, cfg *Config, historyDSN string, timeout time.Duration, index map[string]int, n int) (map[string]sqlResult, error) {
	if len(cfg.SQLFunctions) == 0 {
		return nil, nil
	}
	dsn, err := sqlDSN(cfg, historyDSN)
	if err != nil {
		return nil, err
	}
	conn, err := connectSQL(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	asLabeler, err := checkSession(ctx, conn, cfg.SQLUnsafeAllowPrivilegedRole)
	if err != nil {
		return nil, err
	}
	out := make(map[string]sqlResult, len(cfg.SQLFunctions))
	for _, f := range cfg.SQLFunctions {
		res, err := runSQLFunction(ctx, conn, f, timeout, asLabeler, index, n)
		if err != nil {
			return nil, &SQLFunctionError{Function: f.Name, Err: err}
		}
		out[f.Name] = res
	}
	return out, nil
}

// connectSQL connects for SQL functions. Every statement uses the extended
// protocol, whatever the DSN's default_query_exec_mode says: it refuses a
// string of several statements, so a function cannot end its read-only
// transaction and go on.
func connectSQL(ctx context.Context, dsn string) (*pgx.Conn, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("SQL labeling functions: parse DSN: %w", err)
	}
	pc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("SQL labeling functions: connect: %w", err)
	}
	return conn, nil
}

// Privileges that checkSession refuses.
var (
	// riskyRoles are the predefined roles that let a session read or write
	// server files, run programs, signal other sessions, read or write every
	// table, or run maintenance. Those the server lacks (older versions) are
	// skipped.
	riskyRoles = []string{
		"pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
		"pg_signal_backend", "pg_signal_autovacuum_worker", "pg_read_all_data", "pg_write_all_data",
		"pg_checkpoint", "pg_maintain", "pg_create_subscription",
	}
	// labelTables are the tables of human and simulated labels.
	labelTables = []string{"annotations", "simulation_truth"}
	// dangerousFunctions are the pg_catalog functions (every overload) that
	// the session must not be able to execute, whoever holds the grant: the
	// session user, a role it belongs to, or PUBLIC. PostgreSQL lets PUBLIC execute
	// pg_cancel_backend and pg_terminate_backend, which signal any session of
	// a role whose privileges the caller has: a query that resets its role
	// to the login role can end the other sessions of that login. The
	// others are revoked from PUBLIC by initdb and listed so that a grant to
	// PUBLIC is refused too. docs/security.md lists them for the DBA.
	dangerousFunctions = []string{
		// signal other sessions
		"pg_cancel_backend", "pg_terminate_backend",
		// read server files and directories
		"pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir",
		"pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
		"pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir", "pg_current_logfile",
		// server-side large objects: read and write server files
		"lo_import", "lo_export",
		// act on the server
		"pg_reload_conf", "pg_rotate_logfile", "pg_log_backend_memory_contexts",
		"pg_promote", "pg_switch_wal", "pg_create_restore_point",
	}
	// dangerousExtensions are the extensions none of whose functions the
	// session must be able to execute, in whatever schema they are
	// installed: dblink opens connections (to this server as another role,
	// or to others), adminpack writes and removes server files.
	dangerousExtensions = []string{"dblink", "adminpack"}
)

// sessionCheckSQL lists what makes a non-superuser session unfit to run SQL
// functions. It looks at every role the session user is a member of (itself
// included), with or without INHERIT, since the session may SET ROLE to any
// of them: attributes (superuser, CREATEROLE, BYPASSRLS, REPLICATION), risky
// predefined roles, other login roles (a session may signal the backends of
// roles whose privileges it has), SELECT on any column of a label table in
// any schema, and EXECUTE on a function of dangerousFunctions or
// dangerousExtensions or on a pg_catalog function that PUBLIC may not
// execute (granted by a DBA). For a function it also says how the role may
// execute it: 'PUBLIC' (granted to PUBLIC), the quoted role name (granted
// to the role itself), or an empty string (through another role, which
// has its own row).
const sessionCheckSQL = `
WITH m AS (
    SELECT r.oid, r.rolname::text AS name, r.rolsuper, r.rolcreaterole, r.rolbypassrls,
           r.rolreplication, r.rolcanlogin, r.rolname = session_user AS self
    FROM pg_roles r
    WHERE pg_has_role(session_user, r.oid, 'MEMBER')
), f AS (
    SELECT p.oid, p.oid::regprocedure::text AS sig,
           format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) AS qualified,
           coalesce(p.proacl, acldefault('f', p.proowner)) AS acl, coalesce(e.extname::text, '') AS ext
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
         AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
    LEFT JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = ANY ($4::text[])
       OR (p.pronamespace = 'pg_catalog'::regnamespace
           AND (p.proname = ANY ($3::text[])
                OR NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                               WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')))
)
SELECT 1 AS ord, name, self, 'superuser' AS what, ''::text AS detail, ''::text AS qualified, ''::text AS ext, ''::text AS grantee
    FROM m WHERE rolsuper
UNION ALL SELECT 2, name, self, 'CREATEROLE', '', '', '', '' FROM m WHERE rolcreaterole
UNION ALL SELECT 2, name, self, 'BYPASSRLS', '', '', '', '' FROM m WHERE rolbypassrls
UNION ALL SELECT 2, name, self, 'REPLICATION', '', '', '', '' FROM m WHERE rolreplication
UNION ALL SELECT 3, name, self, 'member', '', '', '', '' FROM m WHERE name = ANY ($1::text[])
UNION ALL SELECT 4, name, self, 'login', '', '', '', '' FROM m WHERE rolcanlogin AND NOT self
UNION ALL SELECT 5, m.name, m.self, 'reads', c.oid::regclass::text, '', '', ''
    FROM m CROSS JOIN pg_class c
    WHERE c.relname = ANY ($2::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND has_any_column_privilege(m.oid, c.oid, 'SELECT')
UNION ALL SELECT 6, m.name, m.self, 'executes', f.sig, f.qualified, f.ext,
    CASE WHEN EXISTS (SELECT 1 FROM aclexplode(f.acl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') THEN 'PUBLIC'
         WHEN EXISTS (SELECT 1 FROM aclexplode(f.acl) a WHERE a.grantee = m.oid AND a.privilege_type = 'EXECUTE') THEN quote_ident(m.name)
         ELSE '' END
    FROM m CROSS JOIN f
    WHERE has_function_privilege(m.oid, f.oid, 'EXECUTE')
ORDER BY ord, ext, detail, self, name`

// maxProblems bounds the reasons an ErrPrivilegedRole error lists.
const maxProblems = 8

// checkSession refuses, with ErrPrivilegedRole, a session whose user could
// do more than read the history (sessionCheckSQL), unless allowPrivileged.
// When the session may execute functions it should not, the error gives the
// REVOKE statements that take them away. It reports whether the session
// user may SET ROLE to migrations.LabelerRole (and is not that role), so
// that functions run as that role.
func checkSession(ctx context.Context, conn *pgx.Conn, allowPrivileged bool) (asLabeler bool, err error) {
	var user, database string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT session_user::text, rolsuper, current_database()::text FROM pg_roles WHERE rolname = session_user`).Scan(&user, &super, &database); err != nil {
		return false, fmt.Errorf("SQL labeling functions: check the database role: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolname <> session_user
		AND pg_has_role(session_user, oid, 'MEMBER'))`, migrations.LabelerRole).Scan(&asLabeler); err != nil {
		return false, fmt.Errorf("SQL labeling functions: check the database role: %w", err)
	}
	if allowPrivileged {
		return asLabeler, nil
	}
	var problems []string
	var revokes revokeList
	if super {
		problems = append(problems, "is a superuser")
	} else {
		rows, err := conn.Query(ctx, sessionCheckSQL, riskyRoles, labelTables, dangerousFunctions, dangerousExtensions)
		if err != nil {
			return false, fmt.Errorf("SQL labeling functions: check the database role: %w", err)
		}
		var ord int
		var self bool
		var role, what, detail, qualified, ext, grantee string
		said := map[string]bool{}
		type extProblem struct {
			at, n int
			first string
		}
		exts := map[string]*extProblem{}
		_, err = pgx.ForEachRow(rows, []any{&ord, &role, &self, &what, &detail, &qualified, &ext, &grantee}, func() error {
			// A role that may become a superuser may do anything: say only
			// that.
			if ord > 1 && len(problems) > 0 && strings.Contains(problems[0], "superuser") {
				return nil
			}
			if what == "executes" {
				revokes.add(grantee, qualified)
			}
			if ext != "" {
				// One line per extension, however many functions.
				if said["executes"+detail] {
					return nil
				}
				said["executes"+detail] = true
				e, ok := exts[ext]
				if !ok {
					e = &extProblem{at: len(problems), first: detail}
					exts[ext] = e
					problems = append(problems, "")
				}
				e.n++
				problems[e.at] = fmt.Sprintf("can execute %d function(s) of extension %s, such as %s", e.n, ext, e.first)
				return nil
			}
			// Name each table and function once, through the role that
			// grants it (an inherited privilege shows on both).
			if detail != "" {
				if said[what+detail] {
					return nil
				}
				said[what+detail] = true
			}
			problems = append(problems, describeProblem(user, role, what, detail, grantee))
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("SQL labeling functions: check the database role: %w", err)
		}
	}
	if len(problems) == 0 {
		return asLabeler, nil
	}
	if len(problems) > maxProblems {
		problems = append(problems[:maxProblems], fmt.Sprintf("and %d more", len(problems)-maxProblems))
	}
	fix := ""
	if s := revokes.statements(); s != "" {
		fix = fmt.Sprintf(" To take the functions away, run as a superuser in database %q: %s (then GRANT EXECUTE back to the roles "+
			"that need them, if any).", database, s)
	}
	return false, fmt.Errorf("%w: role %q %s. A query of a labeling function could use that to act on the server or read labels.%s "+
		"Run them as a login role that is a member of %s and has no other privilege, set in labeling.sql_dsn "+
		"(docs/security.md, \"SQL labeling functions\"), or set labeling.sql_unsafe_allow_privileged_role: true to accept the risk",
		ErrPrivilegedRole, user, strings.Join(problems, "; "), fix, migrations.LabelerRole)
}

// revokeList gathers, per grantee (PUBLIC or a quoted role name), the
// functions to revoke EXECUTE on, in the order they come.
type revokeList struct {
	grantees []string
	funcs    map[string][]string
	seen     map[string]bool
}

func (r *revokeList) add(grantee, function string) {
	if grantee == "" || r.seen[grantee+" "+function] {
		return
	}
	if r.funcs == nil {
		r.funcs, r.seen = map[string][]string{}, map[string]bool{}
	}
	r.seen[grantee+" "+function] = true
	if _, ok := r.funcs[grantee]; !ok {
		r.grantees = append(r.grantees, grantee)
	}
	r.funcs[grantee] = append(r.funcs[grantee], function)
}

// statements returns the REVOKE statements, PUBLIC's first, separated by
// spaces, or "".
func (r *revokeList) statements() string {
	gs := slices.Clone(r.grantees)
	slices.SortStableFunc(gs, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "PUBLIC":
			return -1
		case b == "PUBLIC":
			return 1
		}
		return 0
	})
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("REVOKE EXECUTE ON FUNCTION %s FROM %s;", strings.Join(r.funcs[g], ", "), g))
	}
	return strings.Join(out, " ")
}

// describeProblem words one row of sessionCheckSQL.
func describeProblem(user, role, what, detail, grantee string) string {
	via := ""
	if role != user {
		via = fmt.Sprintf(" through role %q", role)
	}
	switch what {
	case "superuser":
		return fmt.Sprintf("may SET ROLE to superuser %q", role)
	case "member":
		return fmt.Sprintf("is a member of %s", role)
	case "login":
		return fmt.Sprintf("is a member of login role %q (it may signal that role's sessions and use its privileges)", role)
	case "reads":
		return fmt.Sprintf("can read table %s%s", detail, via)
	case "executes":
		if grantee == "PUBLIC" {
			return fmt.Sprintf("can execute %s (granted to PUBLIC)", detail)
		}
		return fmt.Sprintf("can execute %s%s", detail, via)
	}
	return fmt.Sprintf("has %s%s", what, via)
}

// voteKind is how a vote column's text is read.
type voteKind int

const (
	voteWords   voteKind = iota // text and any other type: faulty/healthy/abstain/1/0/-1
	voteBool                    // t: faulty, f: healthy
	voteInteger                 // -1, 0, 1
	voteNumber                  // numeric, float: an integral -1, 0, 1 (1.00 too)
)

func kindOf(oid uint32) voteKind {
	switch oid {
	case pgtype.BoolOID:
		return voteBool
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return voteInteger
	case pgtype.NumericOID, pgtype.Float4OID, pgtype.Float8OID:
		return voteNumber
	}
	return voteWords
}

// textID reports whether a column of type oid holds deployment ids, and
// whether its values are blank-padded (char(n)).
func textID(oid uint32) (ok, padded bool) {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID:
		return true, false
	case pgtype.BPCharOID:
		return true, true
	}
	return false, false
}

// runSQLFunction runs one function and reads its result as it streams in:
// what it keeps is one vote and one flag per labelled deployment, whatever
// the number of rows (the statement timeout bounds the time). Rows arrive in
// text format and are read in place, without allocating per row.
func runSQLFunction(ctx context.Context, conn *pgx.Conn, f SQLFunction, timeout time.Duration, asLabeler bool, index map[string]int, n int) (res sqlResult, err error) {
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
	if asLabeler {
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{migrations.LabelerRole}.Sanitize()); err != nil {
			return sqlResult{}, fmt.Errorf("set role %s: %w", migrations.LabelerRole, err)
		}
	}
	rows, err := tx.Query(ctx, f.SQL, pgx.QueryExecModeDescribeExec, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return sqlResult{}, describeSQLError(err, timeout)
	}
	defer func() {
		if err != nil {
			// Do not drain the rest of a large result: cancelling ends the
			// query (and this connection) now.
			cancel()
		}
		rows.Close()
	}()
	fd := rows.FieldDescriptions()
	if len(fd) != 2 {
		// Execution errors surface when the rows are read.
		rows.Close()
		if err := rows.Err(); err != nil {
			return sqlResult{}, describeSQLError(err, timeout)
		}
		return sqlResult{}, fmt.Errorf("query returns %d columns; it must return (deployment_id, vote)", len(fd))
	}
	isText, padded := textID(fd[0].DataTypeOID)
	if !isText {
		return sqlResult{}, fmt.Errorf("the deployment_id column (%q) is of type %s, want text: cast it with ::text",
			fd[0].Name, typeName(conn, fd[0].DataTypeOID))
	}
	kind := kindOf(fd[1].DataTypeOID)
	res = sqlResult{votes: make([]int8, n)}
	for i := range res.votes {
		res.votes[i] = abstain
	}
	seen := make([]bool, n)
	row := 0
	for rows.Next() {
		row++
		raw := rows.RawValues()
		id := raw[0]
		if id == nil {
			return sqlResult{}, fmt.Errorf("row %d: deployment_id is NULL", row)
		}
		if padded {
			id = bytes.TrimRight(id, " ")
		}
		v, err := parseVote(kind, raw[1])
		if err != nil {
			return sqlResult{}, fmt.Errorf("row %d (deployment %s): %w", row, clip(id), err)
		}
		i, ok := index[string(id)] // no allocation: the compiler converts in place for a lookup
		if !ok {
			res.unknown++
			continue
		}
		if seen[i] {
			if res.votes[i] != v {
				return sqlResult{}, fmt.Errorf("row %d: deployment %s returned twice with different votes (%d and %d)", row, clip(id), res.votes[i], v)
			}
			continue
		}
		seen[i], res.votes[i] = true, v
	}
	if err := rows.Err(); err != nil {
		return sqlResult{}, describeSQLError(err, timeout)
	}
	rows.Close()
	// A session-level advisory lock survives the rollback: release any the
	// function took, so that it holds none beyond its own statement.
	if err := tx.Rollback(ctx); err != nil {
		return sqlResult{}, fmt.Errorf("end read-only transaction: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		return sqlResult{}, fmt.Errorf("release advisory locks: %w", err)
	}
	return res, nil
}

// typeName names the type oid for messages.
func typeName(conn *pgx.Conn, oid uint32) string {
	if t, ok := conn.TypeMap().TypeForOID(oid); ok {
		return t.Name
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func describeSQLError(err error, timeout time.Duration) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57014": // query_canceled: the statement timeout
			return fmt.Errorf("%w (sql_timeout_seconds is %v)", err, timeout.Seconds())
		case "25006": // read_only_sql_transaction
			return fmt.Errorf("%w: labeling functions run read-only", err)
		case "42501": // insufficient_privilege
			return fmt.Errorf("%w: labeling functions may only read the history tables (docs/security.md)", err)
		}
	}
	return err
}

// parseVote reads a vote in PostgreSQL's text format; raw is nil for NULL
// (abstain). Words (any type but the ones below; case and surrounding
// blanks ignored): faulty or 1, healthy or 0, abstain or -1 or the empty
// string. Booleans: true is faulty, false healthy. Integers, numerics and
// floats: 1, 0 or -1 (1.0 too).
func parseVote(kind voteKind, raw []byte) (int8, error) {
	if raw == nil {
		return abstain, nil
	}
	switch kind {
	case voteBool:
		switch string(raw) {
		case "t":
			return faulty, nil
		case "f":
			return healthy, nil
		}
	case voteInteger, voteNumber:
		if v, ok := integral(raw, kind == voteNumber); ok {
			return v, nil
		}
	default:
		w := bytes.TrimSpace(raw)
		switch {
		case bytes.EqualFold(w, []byte("faulty")), string(w) == "1":
			return faulty, nil
		case bytes.EqualFold(w, []byte("healthy")), string(w) == "0":
			return healthy, nil
		case bytes.EqualFold(w, []byte("abstain")), string(w) == "-1", len(w) == 0:
			return abstain, nil
		}
	}
	return 0, fmt.Errorf("vote %s is not 1, 0, -1, 'faulty', 'healthy', 'abstain' or NULL", clip(raw))
}

// integral reads -1, 0 or 1 written as an integer (leading zeros allowed)
// or, with fraction, followed by a point and zeros.
func integral(b []byte, fraction bool) (int8, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if fraction {
		if i := bytes.IndexByte(b, '.'); i >= 0 {
			if len(bytes.Trim(b[i+1:], "0")) != 0 {
				return 0, false
			}
			b = b[:i]
		}
	}
	b = bytes.TrimLeft(b, "0")
	switch {
	case len(b) == 0:
		return healthy, true // 0, 00, -0
	case len(b) == 1 && b[0] == '1' && neg:
		return abstain, true
	case len(b) == 1 && b[0] == '1':
		return faulty, true
	}
	return 0, false
}

// passwordKeyRE finds a password keyword in a key=value DSN.
var passwordKeyRE = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// validateSQLDSN refuses a labeling.sql_dsn that holds a password: the
// configuration is printed by `faultline config` and saved with every run
// record.
func validateSQLDSN(dsn string) error {
	has := passwordKeyRE.MatchString(dsn)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return errors.New("labeling.sql_dsn: not a valid postgres:// URL")
		}
		_, pw := u.User.Password()
		has = pw || u.Query().Has("password")
	}
	if has {
		return errors.New("labeling.sql_dsn: holds a password, which would be printed by 'faultline config' and saved with run records; " +
			"give it in a password file instead (passfile=FILE in the DSN, PGPASSFILE, or ~/.pgpass)")
	}
	return nil
}
