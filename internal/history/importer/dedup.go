package importer

// minuteSet remembers (series, minute) pairs of a metrics file in a sparse
// bitmap: blocks of 65536 minutes (about 45 days) per series, 8 KiB each.
// That is ~1 bit per minute of each series' span, instead of a hash-map
// entry per row.
type minuteSet struct {
	series    map[[3]string]uint32
	blocks    map[uint64]*[1024]uint64
	lastKey   uint64
	lastBlock *[1024]uint64
}

func newMinuteSet() *minuteSet {
	return &minuteSet{series: map[[3]string]uint32{}, blocks: map[uint64]*[1024]uint64{}}
}

// minuteBias keeps minutes before 1970 non-negative.
const minuteBias = 1 << 34

// add records the pair and reports whether it was new.
func (s *minuteSet) add(service, environment, version string, minute int64) bool {
	k := [3]string{service, environment, version}
	id, ok := s.series[k]
	if !ok {
		id = uint32(len(s.series))
		s.series[k] = id
	}
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
		return false
	}
	b[word] |= bit
	return true
}
