package importer

// minuteSet remembers (series, minute) pairs of a per-minute file (metrics,
// KPI values) in a sparse bitmap: blocks of 65536 minutes (about 45 days)
// per series, 8 KiB each. That is ~1 bit per minute of each series' span,
// instead of a hash-map entry per row. For each series it also keeps the
// line of its first row, and the minute and line of its latest row, so
// that a duplicate of the row just before (the usual case: two rows of one
// minute, after timestamps were floored) names both lines.
type minuteSet struct {
	series    map[[4]string]uint32
	info      []seriesInfo // by series id
	blocks    map[uint64]*[1024]uint64
	lastKey   uint64
	lastBlock *[1024]uint64
}

type seriesInfo struct {
	key                  [4]string
	firstLine            int64
	lastMinute, lastLine int64
}

func newMinuteSet() *minuteSet {
	return &minuteSet{series: map[[4]string]uint32{}, blocks: map[uint64]*[1024]uint64{}}
}

// minuteBias keeps minutes before 1970 non-negative.
const minuteBias = 1 << 34

// add records the pair k (a series: service, environment, version, name)
// at minute, seen at line. It reports whether it was new; when it was not,
// prevLine is the line of the earlier row if known (0 otherwise).
func (s *minuteSet) add(k [4]string, minute, line int64) (isNew bool, prevLine int64) {
	id, ok := s.series[k]
	if !ok {
		id = uint32(len(s.series))
		s.series[k] = id
		s.info = append(s.info, seriesInfo{key: k, firstLine: line, lastMinute: minute, lastLine: line})
	}
	inf := &s.info[id]
	m := uint64(minute + minuteBias)
	key := uint64(id)<<32 | m>>16
	b := s.lastBlock
	if b == nil || key != s.lastKey {
		b = s.blocks[key]
		if b == nil {
			b = new([1024]uint64)
			s.blocks[key] = b
		}
		s.lastKey, s.lastBlock = key, b
	}
	off := m & 0xffff
	word, bit := off>>6, uint64(1)<<(off&63)
	if b[word]&bit != 0 {
		if inf.lastMinute == minute {
			prevLine = inf.lastLine
		}
		return false, prevLine
	}
	b[word] |= bit
	inf.lastMinute, inf.lastLine = minute, line
	return true, 0
}

// firstLine returns the line of the first row of series k, or 0.
func (s *minuteSet) firstLine(k [4]string) int64 {
	if id, ok := s.series[k]; ok {
		return s.info[id].firstLine
	}
	return 0
}
