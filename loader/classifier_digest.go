package loader

import (
	"encoding/binary"
	"hash"
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/classify"
)

// writeTables feeds every entry of t to h in a fixed order (maps sorted,
// arrays by index, zero masks left out), each part tagged so that no two
// tables give the same stream.
func writeTables(h hash.Hash, t *classify.Tables) {
	var b []byte
	flush := func() {
		h.Write(b)
		b = b[:0]
	}
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	mask := func(m classify.Mask) {
		for _, w := range m {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		if len(b) > 1<<16 {
			flush()
		}
	}
	b = append(b, 'p')
	for p := range 256 {
		if m, ok := t.Proto[uint8(p)]; ok && !m.IsZero() {
			u32(uint32(p))
			mask(m)
		}
	}
	portsOf := func(tag byte, ports []classify.Mask) {
		b = append(b, tag)
		for i, m := range ports {
			if !m.IsZero() {
				u32(uint32(i))
				mask(m)
			}
		}
	}
	portsOf('s', t.SPort)
	portsOf('d', t.DPort)
	prefixes := func(tag byte, tab map[netip.Prefix]classify.Mask) {
		b = append(b, tag)
		ps := make([]netip.Prefix, 0, len(tab))
		for p := range tab {
			ps = append(ps, p)
		}
		slices.SortFunc(ps, netip.Prefix.Compare)
		for _, p := range ps {
			b, _ = p.AppendBinary(b)
			mask(tab[p])
		}
	}
	prefixes('S', t.Src)
	prefixes('D', t.Dst)
	b = append(b, 'w')
	for _, m := range t.Wild {
		mask(m)
	}
	b = append(b, 'a')
	for _, a := range t.Addr {
		u32(uint32(len(a.Lens)))
		for _, l := range a.Lens {
			u32(uint32(l))
		}
		if a.LPM {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	b = append(b, 'e')
	u32(uint32(len(t.Sel)))
	for _, s := range t.Sel {
		u32(s.App)
		u32(s.Class.ClassID)
		u32(s.Class.Slot)
	}
	u32(t.Default.ClassID)
	u32(t.Default.Slot)
	flush()
}
