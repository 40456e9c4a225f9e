package pgstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline-dev/faultline/internal/history"
)

// The per-stream reads (Metrics, Signatures) are the hot path of feature
// extraction: a stream's block is tens of thousands of rows. They are built
// so that the server does no more than stream the stored rows, and the
// client decodes them with no per-row allocation:
//
//   - one REPEATABLE READ, READ ONLY transaction per call, pipelined with
//     its statements (Metrics is one round trip, Signatures two): the
//     stream's series (id → version) are read once, and the rows carry the
//     4-byte series_id instead of the version text;
//   - the rows are selected with series_id = ANY(ARRAY(subquery)): one
//     index (or bitmap) scan per monthly partition, instead of a nested
//     loop per series whose plan changes once the tables are analyzed;
//   - JIT is off for that transaction (SET LOCAL): on analyzed tables
//     these queries cost past jit_above_cost, and compiling took longer
//     than running them (≈ 20 ms of compilation for a 14 ms query);
//   - no ORDER BY: the server would sort with COLLATE "C" text
//     comparisons, spilling to disk past work_mem. Rows are grouped and
//     ordered in Go instead (Go's string order is byte order), on integer
//     keys;
//   - binary results decoded straight from the wire: timestamps as
//     microseconds, strings shared per call (a stream has few versions and
//     fingerprints);
//   - Signatures does not join error_fingerprints per row: it reads
//     fingerprint ids and resolves the distinct ones with one small query
//     in the same snapshot.

const (
	beginReadSQL = `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`
	noJITSQL     = `SET LOCAL jit = off`
	// streamSeriesSQL lists the series of a stream.
	streamSeriesSQL = `SELECT series_id, version FROM series WHERE service = $1 AND environment = $2`
	// streamIDs matches the series_id of the stream's series.
	streamIDs = `series_id = ANY(ARRAY(SELECT series_id FROM series WHERE service = $1 AND environment = $2))`
	// metricsSQL selects a stream's metric rows, in no particular order.
	metricsSQL = `SELECT series_id, minute, requests, errors, latency_p50_ms, latency_p95_ms, latency_p99_ms
		FROM metrics WHERE ` + streamIDs
	// signaturesSQL selects a stream's error-signature rows, in no
	// particular order.
	signaturesSQL = `SELECT series_id, minute, fingerprint_id, count FROM error_signatures WHERE ` + streamIDs
	// fingerprintsSQL resolves fingerprint ids.
	fingerprintsSQL = `SELECT fingerprint_id, fingerprint, coalesce(error_type, ''), coalesce(endpoint, ''),
		coalesce(status_code, 0) FROM error_fingerprints WHERE fingerprint_id = ANY($1)`
)

// streamSeries maps the series ids of a stream to slots numbered in
// version byte order.
type streamSeries struct {
	versions []string        // by slot, sorted
	slot     map[int32]int32 // series_id → slot
	lastID   int32
	lastSlot int32 // -1 until a lookup succeeded
}

// of returns the slot of series id, or -1 when id is not a series of the
// stream.
func (ss *streamSeries) of(id int32) int32 {
	if id == ss.lastID && ss.lastSlot >= 0 {
		return ss.lastSlot
	}
	k, ok := ss.slot[id]
	if !ok {
		return -1
	}
	ss.lastID, ss.lastSlot = id, k
	return k
}

// beginStreamRead sends, pipelined on conn: BEGIN (repeatable read, read
// only), SET LOCAL jit = off, the stream's series, rowsSQL with args, and,
// when commit is set, COMMIT. It reads the results up to the series and
// returns them with the batch, whose next result is rowsSQL's. On error
// the batch is closed; the caller's connection is then inside a
// transaction, which the pool does not reuse.
func beginStreamRead(ctx context.Context, conn *pgxpool.Conn, st history.Stream, rowsSQL string, args []any, commit bool) (pgx.BatchResults, *streamSeries, error) {
	b := &pgx.Batch{}
	b.Queue(beginReadSQL)
	b.Queue(noJITSQL)
	b.Queue(streamSeriesSQL, st.Service, st.Environment)
	b.Queue(rowsSQL, args...)
	if commit {
		b.Queue(`COMMIT`)
	}
	br := conn.SendBatch(ctx, b)
	fail := func(err error) (pgx.BatchResults, *streamSeries, error) {
		br.Close()
		return nil, nil, err
	}
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return fail(err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return fail(err)
	}
	type sv struct {
		id int32
		v  string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sv, error) {
		var x sv
		err := r.Scan(&x.id, &x.v)
		return x, err
	})
	if err != nil {
		return fail(fmt.Errorf("series: %w", err))
	}
	slices.SortFunc(list, func(a, b sv) int { return cmp.Compare(a.v, b.v) })
	ss := &streamSeries{versions: make([]string, len(list)), slot: make(map[int32]int32, len(list)), lastSlot: -1}
	for k, x := range list {
		ss.versions[k] = x.v
		ss.slot[x.id] = int32(k)
	}
	return br, ss, nil
}

// Metrics returns the series of every version of st with minutes in r,
// sorted by version.
func (s *Store) Metrics(ctx context.Context, st history.Stream, r history.Range) ([]history.Series, error) {
	out, err := s.metrics(ctx, st, r)
	if err != nil {
		return nil, fmt.Errorf("read metrics of %s/%s: %w", st.Service, st.Environment, err)
	}
	return out, nil
}

func (s *Store) metrics(ctx context.Context, st history.Stream, r history.Range) ([]history.Series, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A connection released inside a transaction (after an error) is
	// closed by the pool rather than reused.
	defer conn.Release()
	where, args := rangeWhere("minute", r, []any{st.Service, st.Environment})
	br, ss, err := beginStreamRead(ctx, conn, st, metricsSQL+where, args, true)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	out, err := decodeMetrics(rows, ss)
	rows.Close()
	if err == nil {
		_, err = br.Exec() // COMMIT
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// metricRow is one metrics row as read.
type metricRow struct {
	minute        int64
	req, errs     float64
	p50, p95, p99 float64
	slot          int32
}

// Row buffers reused across calls: a call decodes into one, then copies
// into result slices of the exact size (no append growth, six allocations
// for all the series of a call).
var (
	metricBufs = newRowBufs[metricRow]()
	sigBufs    = newRowBufs[sigRow]()
)

// maxPooledRows bounds the buffers kept in the free lists (≈ 14 MB of
// metric rows).
const maxPooledRows = 1 << 18

// pooledBufs is the number of buffers a free list keeps: enough for the
// reads an extraction runs at once (its workers and their read-ahead).
const pooledBufs = 4

// rowBufs is a bounded free list of row buffers. Unlike a sync.Pool it is
// not emptied by garbage collections: an extraction collects every few
// reads, and a buffer dropped by one was grown again by append on the next
// read (about twice the rows' size allocated per read). It keeps at most
// pooledBufs buffers of at most maxPooledRows rows.
type rowBufs[T any] struct{ free chan *[]T }

func newRowBufs[T any]() rowBufs[T] { return rowBufs[T]{free: make(chan *[]T, pooledBufs)} }

// get returns an empty buffer, a kept one when there is one.
func (p rowBufs[T]) get() *[]T {
	select {
	case b := <-p.free:
		return b
	default:
		return new([]T)
	}
}

// put keeps b for a later get unless it is too large or the list is full.
func (p rowBufs[T]) put(b *[]T) {
	if cap(*b) > maxPooledRows {
		return
	}
	*b = (*b)[:0]
	select {
	case p.free <- b:
	default:
	}
}

// decodeMetrics groups the rows of metricsSQL into series sorted by
// version, each sorted by minute.
func decodeMetrics(rows pgx.Rows, ss *streamSeries) ([]history.Series, error) {
	bufp := metricBufs.get()
	buf := (*bufp)[:0]
	defer func() {
		*bufp = buf
		metricBufs.put(bufp)
	}()
	counts := make([]int, len(ss.versions))
	checked := false
	for rows.Next() {
		if !checked {
			if err := wantBinary(rows, 0); err != nil {
				return nil, err
			}
			checked = true
		}
		raw := rows.RawValues()
		if len(raw) != 7 {
			return nil, fmt.Errorf("want 7 columns, got %d", len(raw))
		}
		id, err0 := int4At(raw[0])
		ts, err1 := int8At(raw[1])
		req, err2 := float8NotNull(raw[2])
		errs, err3 := float8NotNull(raw[3])
		if err := errors.Join(err0, err1, err2, err3); err != nil {
			return nil, err
		}
		k := ss.of(id)
		if k < 0 {
			return nil, fmt.Errorf("row of series %d, not a series of the stream", id)
		}
		counts[k]++
		buf = append(buf, metricRow{
			minute: floorDiv(ts, 60_000_000) + pgEpochUnix/60, req: req, errs: errs,
			p50: float8At(raw[4]), p95: float8At(raw[5]), p99: float8At(raw[6]), slot: k,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// One backing array per column; series k gets [start[k], start[k]+counts[k]).
	n := len(buf)
	minutes, reqs, errs := make([]int64, n), make([]float64, n), make([]float64, n)
	p50, p95, p99 := make([]float64, n), make([]float64, n), make([]float64, n)
	start, next := make([]int, len(counts)), make([]int, len(counts))
	var out []history.Series
	outOf := make([]int32, len(counts))
	at := 0
	for k, c := range counts {
		start[k], next[k] = at, at
		if c == 0 {
			continue
		}
		outOf[k] = int32(len(out))
		e := at + c
		out = append(out, history.Series{Version: ss.versions[k],
			Minutes: minutes[at:e:e], Requests: reqs[at:e:e], Errors: errs[at:e:e], P50: p50[at:e:e], P95: p95[at:e:e], P99: p99[at:e:e]})
		at = e
	}
	unsorted := make([]bool, len(counts))
	for i := range buf {
		r := &buf[i]
		j := next[r.slot]
		if j > start[r.slot] && minutes[j-1] >= r.minute {
			unsorted[r.slot] = true
		}
		minutes[j], reqs[j], errs[j] = r.minute, r.req, r.errs
		p50[j], p95[j], p99[j] = r.p50, r.p95, r.p99
		next[r.slot] = j + 1
	}
	for k, u := range unsorted {
		if u {
			sortSeries(&out[outOf[k]])
		}
	}
	return out, nil
}

// float8NotNull decodes a binary float8 of a NOT NULL column.
func float8NotNull(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want 8 bytes, got %d", len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

func int4At(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("want 4 bytes, got %d", len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// sortSeries sorts the columns of s by minute.
func sortSeries(s *history.Series) {
	perm := make([]int32, len(s.Minutes))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int { return cmp.Compare(s.Minutes[a], s.Minutes[b]) })
	s.Minutes = permute(s.Minutes, perm)
	s.Requests = permute(s.Requests, perm)
	s.Errors = permute(s.Errors, perm)
	s.P50 = permute(s.P50, perm)
	s.P95 = permute(s.P95, perm)
	s.P99 = permute(s.P99, perm)
}

func permute[T any](v []T, perm []int32) []T {
	out := make([]T, len(v))
	for i, p := range perm {
		out[i] = v[p]
	}
	return out
}

// wantBinary checks that the columns from first on came back in binary.
// (A connection set to the simple protocol returns text, which the hot
// paths do not parse.)
func wantBinary(rows pgx.Rows, first int) error {
	for _, fd := range rows.FieldDescriptions()[first:] {
		if fd.Format != pgx.BinaryFormatCode {
			return fmt.Errorf("unexpected text format for column %s (is the connection set to the simple protocol?)", fd.Name)
		}
	}
	return nil
}

// sigRow is one signature row as read, before the fingerprint is resolved.
type sigRow struct {
	us    int64 // microseconds since 2000-01-01 UTC
	count int64
	ver   int32 // slot of the version: its rank in byte order
	fp    int32 // index into the call's fingerprints, then its rank
}

// Signatures returns the error-signature rows of st with minutes in r,
// ordered by minute, version, fingerprint.
func (s *Store) Signatures(ctx context.Context, st history.Stream, r history.Range) ([]history.Signature, error) {
	out, err := s.signatures(ctx, st, r)
	if err != nil {
		return nil, fmt.Errorf("read error signatures of %s/%s: %w", st.Service, st.Environment, err)
	}
	return out, nil
}

func (s *Store) signatures(ctx context.Context, st history.Stream, r history.Range) ([]history.Signature, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A connection released inside a transaction (after an error) is
	// closed by the pool rather than reused.
	defer conn.Release()
	where, args := rangeWhere("minute", r, []any{st.Service, st.Environment})
	br, ss, err := beginStreamRead(ctx, conn, st, signaturesSQL+where, args, false)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	bufp := sigBufs.get()
	recs, fpIDs, fpIdx, err := decodeSignatureRows(rows, ss, (*bufp)[:0])
	defer func() {
		if cap(recs) >= cap(*bufp) { // recs is nil on error
			*bufp = recs
		}
		sigBufs.put(bufp)
	}()
	rows.Close()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	// The fingerprints named by the rows, in the same snapshot.
	fps := make([]fingerprint, len(fpIDs))
	b := &pgx.Batch{}
	b.Queue(fingerprintsSQL, fpIDs)
	b.Queue(`COMMIT`)
	br = conn.SendBatch(ctx, b)
	rows, err = br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	found := 0
	for rows.Next() {
		var id int32
		var f fingerprint
		if err = rows.Scan(&id, &f.name, &f.errorType, &f.endpoint, &f.status); err != nil {
			break
		}
		k, ok := fpIdx[id]
		if !ok {
			err = fmt.Errorf("fingerprint id %d was not asked for", id)
			break
		}
		fps[k] = f
		found++
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err == nil {
		_, err = br.Exec() // COMMIT
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if found != len(fpIDs) {
		return nil, fmt.Errorf("%d fingerprint ids of error_signatures have no error_fingerprints row", len(fpIDs)-found)
	}
	return buildSignatures(st, recs, ss.versions, fps), nil
}

// decodeSignatureRows appends the rows of signaturesSQL to recs. It
// returns them with the distinct fingerprint ids they name, in order of
// appearance, and the index of each id in that list.
func decodeSignatureRows(rows pgx.Rows, ss *streamSeries, recs []sigRow) ([]sigRow, []int32, map[int32]int32, error) {
	var (
		fpIDs   []int32
		fpIdx   = map[int32]int32{}
		checked bool
	)
	for rows.Next() {
		if !checked {
			if err := wantBinary(rows, 0); err != nil {
				return nil, nil, nil, err
			}
			checked = true
		}
		raw := rows.RawValues()
		if len(raw) != 4 {
			return nil, nil, nil, fmt.Errorf("want 4 columns, got %d", len(raw))
		}
		id, err0 := int4At(raw[0])
		us, err1 := int8At(raw[1])
		fid, err2 := int4At(raw[2])
		count, err3 := int8At(raw[3])
		if err := errors.Join(err0, err1, err2, err3); err != nil {
			return nil, nil, nil, err
		}
		if us == math.MaxInt64 || us == math.MinInt64 {
			return nil, nil, nil, errors.New("minute is infinity")
		}
		ver := ss.of(id)
		if ver < 0 {
			return nil, nil, nil, fmt.Errorf("row of series %d, not a series of the stream", id)
		}
		f, ok := fpIdx[fid]
		if !ok {
			f = int32(len(fpIDs))
			fpIDs = append(fpIDs, fid)
			fpIdx[fid] = f
		}
		recs = append(recs, sigRow{us: us, count: count, ver: ver, fp: f})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	return recs, fpIDs, fpIdx, nil
}

type fingerprint struct {
	name, errorType, endpoint string
	status                    int32
}

// buildSignatures orders recs by minute, version, fingerprint (byte order,
// as COLLATE "C") and expands them. versions are sorted: the slot of a
// version is its rank.
func buildSignatures(st history.Stream, recs []sigRow, versions []string, fps []fingerprint) []history.Signature {
	fpRank := ranks(len(fps), func(i int) string { return fps[i].name })
	for i := range recs {
		recs[i].fp = fpRank[recs[i].fp]
	}
	slices.SortFunc(recs, func(a, b sigRow) int {
		if c := cmp.Compare(a.us, b.us); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ver, b.ver); c != 0 {
			return c
		}
		return cmp.Compare(a.fp, b.fp)
	})
	byRankFp := make([]*fingerprint, len(fps))
	for i, r := range fpRank {
		byRankFp[r] = &fps[i]
	}
	out := make([]history.Signature, len(recs))
	var lastUS int64 = math.MinInt64
	var minute time.Time
	for i, rec := range recs {
		if rec.us != lastUS {
			minute = pgTime(rec.us)
			lastUS = rec.us
		}
		f := byRankFp[rec.fp]
		out[i] = history.Signature{
			Service: st.Service, Environment: st.Environment, Version: versions[rec.ver], Minute: minute,
			Fingerprint: f.name, Count: rec.count, ErrorType: f.errorType, Endpoint: f.endpoint, StatusCode: f.status,
		}
	}
	return out
}

// ranks returns, for each of n strings, its rank in byte order (the
// strings are distinct).
func ranks(n int, at func(int) string) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(at(int(a)), at(int(b))) })
	rank := make([]int32, n)
	for r, i := range order {
		rank[i] = int32(r)
	}
	return rank
}

// pgTime converts a binary timestamptz (microseconds since 2000-01-01 UTC)
// to a UTC time.
func pgTime(us int64) time.Time {
	sec := floorDiv(us, 1_000_000)
	return time.Unix(pgEpochUnix+sec, (us-sec*1_000_000)*1000).UTC()
}

// KPIValues returns the KPI series of st with minutes in r, ordered by
// name, then version (byte order), each sorted by minute. Like Metrics it
// reads in one REPEATABLE READ, READ ONLY transaction, selecting rows by
// kpi_series_id = ANY(ARRAY(subquery)) and sorting in Go.
func (s *Store) KPIValues(ctx context.Context, st history.Stream, r history.Range) ([]history.KPISeries, error) {
	out, err := s.kpiValues(ctx, st, r)
	if err != nil {
		return nil, fmt.Errorf("read KPI values of %s/%s: %w", st.Service, st.Environment, err)
	}
	return out, nil
}

func (s *Store) kpiValues(ctx context.Context, st history.Stream, r history.Range) ([]history.KPISeries, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, `SELECT kpi_series_id, name, version FROM kpi_series WHERE service = $1 AND environment = $2`,
		st.Service, st.Environment)
	if err != nil {
		return nil, err
	}
	byID := map[int32]*history.KPISeries{}
	var id int32
	var name, version string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name, &version}, func() error {
		byID[id] = &history.KPISeries{Name: name, Version: version}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(byID) == 0 {
		return nil, nil
	}
	where, args := rangeWhere("minute", r, []any{st.Service, st.Environment})
	rows, err = tx.Query(ctx, `SELECT kpi_series_id, minute, value FROM kpi_values
		WHERE kpi_series_id = ANY(ARRAY(SELECT kpi_series_id FROM kpi_series WHERE service = $1 AND environment = $2))`+where, args...)
	if err != nil {
		return nil, err
	}
	var minute time.Time
	var value float64
	if _, err := pgx.ForEachRow(rows, []any{&id, &minute, &value}, func() error {
		ks := byID[id]
		if ks == nil {
			return fmt.Errorf("row of KPI series %d, not a series of the stream", id)
		}
		ks.Minutes = append(ks.Minutes, history.UnixMinute(minute))
		ks.Values = append(ks.Values, value)
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]history.KPISeries, 0, len(byID))
	for _, ks := range byID {
		if len(ks.Minutes) == 0 {
			continue
		}
		if !slices.IsSorted(ks.Minutes) {
			perm := make([]int32, len(ks.Minutes))
			for i := range perm {
				perm[i] = int32(i)
			}
			slices.SortFunc(perm, func(a, b int32) int { return cmp.Compare(ks.Minutes[a], ks.Minutes[b]) })
			ks.Minutes, ks.Values = permute(ks.Minutes, perm), permute(ks.Values, perm)
		}
		out = append(out, *ks)
	}
	slices.SortFunc(out, func(a, b history.KPISeries) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
