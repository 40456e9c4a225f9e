package embedded

import (
	"cmp"
	"slices"

	"github.com/faultline-dev/faultline/internal/history"
)

// Row groups by time (layout format 3). The per-stream files (metrics,
// signatures, KPI values) and the deployments table are written in row
// groups that hold whole UTC days, in ascending order of time, so that a
// reader selects by the row groups' min/max statistics of the time column
// (minute, or started_at) the few it needs for a range:
//
//   - a row group closes at the first day boundary at which it holds at
//     least minGroupRows rows (sparse streams get groups of several days,
//     so that footers stay small); a day of more than rowsPerGroup rows is
//     split by the writer;
//   - within a row group, rows keep the file's order (metrics by version,
//     minute; KPI values by name, version, minute; signatures by minute,
//     version, fingerprint; deployments by started_at, ID), so that a
//     series is the concatenation, in row-group order, of its runs.
//
// Files written so carry the key/value metadata layoutKey = layoutByDay.
// Metrics and KPI value files without it (layout formats 1 and 2) are
// sorted by series over the whole file and are read whole. Signature
// files and the deployments table were always in time order, so every row
// group of any format can be selected by its statistics.
const (
	minGroupRows = 1024
	dayMinutes   = 1440
	layoutKey    = "faultline.row_groups"
	layoutByDay  = "by_day"
)

// dayOfMinute returns the UTC day (days since the Unix epoch) of Unix
// minute m.
func dayOfMinute(m int64) int64 {
	d := m / dayMinutes
	if m < 0 && m%dayMinutes != 0 {
		d--
	}
	return d
}

// groupDays splits rows, in ascending order of dayOf, into row groups:
// each closes at the first change of day at which it holds at least
// minGroupRows rows.
func groupDays[T any](rows []T, dayOf func(*T) int64) [][]T {
	var out [][]T
	start := 0
	for i := 1; i <= len(rows); i++ {
		if i == len(rows) {
			if i > start {
				out = append(out, rows[start:i])
			}
			break
		}
		if i-start >= minGroupRows && dayOf(&rows[i]) != dayOf(&rows[i-1]) {
			out = append(out, rows[start:i])
			start = i
		}
	}
	return out
}

// byDay reorders rows, sorted by some key, into (day, key) order: stable,
// so that rows keep their order within a day. A counting sort: one pass
// to count the rows of each day, one to place them.
func byDay[T any](rows []T, dayOf func(*T) int64) {
	if len(rows) < 2 {
		return
	}
	lo, hi := dayOf(&rows[0]), dayOf(&rows[0])
	sorted := true
	prev := lo
	for i := range rows {
		d := dayOf(&rows[i])
		lo, hi = min(lo, d), max(hi, d)
		sorted = sorted && d >= prev
		prev = d
	}
	if sorted {
		return
	}
	if hi-lo > int64(4*len(rows)+1<<16) {
		slices.SortStableFunc(rows, func(a, b T) int { return cmp.Compare(dayOf(&a), dayOf(&b)) })
		return
	}
	next := make([]int, hi-lo+2)
	for i := range rows {
		next[dayOf(&rows[i])-lo+1]++
	}
	for d := 1; d < len(next); d++ {
		next[d] += next[d-1]
	}
	out := make([]T, len(rows))
	for i := range rows {
		d := dayOf(&rows[i]) - lo
		out[next[d]] = rows[i]
		next[d]++
	}
	copy(rows, out)
}

func metricDay(r *metricRow) int64       { return dayOfMinute(r.Minute) }
func signatureDay(r *signatureRow) int64 { return dayOfMinute(r.Minute) }
func kpiValueDay(r *kpiValueRow) int64   { return dayOfMinute(r.Minute) }
func deploymentDay(r *deploymentRow) int64 {
	return dayOfMinute(history.UnixMinute(r.StartedAt))
}

// streamMeta is the key/value metadata of a stream file of stream st.
func streamMeta(st history.Stream) map[string]string {
	return map[string]string{"faultline.service": st.Service, "faultline.environment": st.Environment, layoutKey: layoutByDay}
}
