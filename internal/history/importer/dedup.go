package importer

// minuteSet remembers (series, minute) pairs of a per-minute file (metrics,
// KPI values, error signatures) in bitmaps, one bit per minute of each
// series' span instead of a hash-map entry per row. A series' bitmap covers
// the words between its earliest and latest minute (a version serving for a
// few hours takes a few dozen bytes); a series whose span outgrows
// denseWords words (about 45 days) moves to a sparse map of blocks of 65536
// minutes, 8 KiB each, so that a few rows far apart cost at most a block
// each. For each series it also keeps the line of its first row, and the
// minute and line of its latest row, so that a duplicate of the row just
// before (the usual case: two rows of one minute, after timestamps were
// floored) names both lines.
type minuteSet struct {
	series    map[[4]string]uint32
	info      []seriesInfo // by series id
	blocks    map[uint64]*[1024]uint64
	lastKey   uint64
	lastBlock *[1024]uint64
}

type seriesInfo struct {
	firstLine            int64
	lastMinute, lastLine int64
	// base is the biased minute of bit 0 of bits (a multiple of 64);
	// sparse series keep their minutes in minuteSet.blocks instead.
	base   uint64
	bits   []uint64
	sparse bool
}

// denseWords is the widest bitmap of one series (65536 minutes, 8 KiB, one
// sparse block) before it turns sparse.
const denseWords = 1024

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
		s.info = append(s.info, seriesInfo{firstLine: line, lastMinute: minute, lastLine: line})
	}
	inf := &s.info[id]
	m := uint64(minute + minuteBias)
	var word *uint64
	if !inf.sparse {
		word = inf.word(m)
		if word == nil {
			s.toSparse(id, inf)
		}
	}
	if inf.sparse {
		word = s.blockWord(id, m)
	}
	bit := uint64(1) << (m & 63)
	if *word&bit != 0 {
		if inf.lastMinute == minute {
			prevLine = inf.lastLine
		}
		return false, prevLine
	}
	*word |= bit
	inf.lastMinute, inf.lastLine = minute, line
	return true, 0
}

// word returns the word of the series' bitmap holding minute m, widening the
// bitmap to it, or nil when the span would exceed denseWords.
func (inf *seriesInfo) word(m uint64) *uint64 {
	w := m >> 6
	if inf.bits == nil {
		inf.base = w << 6
		inf.bits = make([]uint64, 1)
		return &inf.bits[0]
	}
	lo := inf.base >> 6
	switch hi := lo + uint64(len(inf.bits)); {
	case w < lo:
		if hi-w > denseWords {
			return nil
		}
		// Rows out of order: prepend, with room for more of them.
		n := min(hi-w+(lo-w), denseWords)
		bits := make([]uint64, n)
		copy(bits[n-uint64(len(inf.bits)):], inf.bits)
		inf.bits, inf.base = bits, (hi-n)<<6
	case w >= hi:
		if w+1-lo > denseWords {
			return nil
		}
		for uint64(len(inf.bits)) <= w-lo {
			inf.bits = append(inf.bits, 0)
		}
	}
	return &inf.bits[w-inf.base>>6]
}

// toSparse moves series id's bitmap into blocks.
func (s *minuteSet) toSparse(id uint32, inf *seriesInfo) {
	for i, v := range inf.bits {
		if v != 0 {
			*s.blockWord(id, inf.base+uint64(i)<<6) |= v
		}
	}
	inf.bits, inf.sparse = nil, true
}

// blockWord returns the word of series id's sparse block holding minute m.
func (s *minuteSet) blockWord(id uint32, m uint64) *uint64 {
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
	return &b[(m&0xffff)>>6]
}

// firstLine returns the line of the first row of series k, or 0.
func (s *minuteSet) firstLine(k [4]string) int64 {
	if id, ok := s.series[k]; ok {
		return s.info[id].firstLine
	}
	return 0
}
