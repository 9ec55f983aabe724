package loader

import (
	"encoding/binary"
	"hash"
	"maps"
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
	bitsOf := func(m classify.Bits) {
		for _, w := range m {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	mask := func(m classify.Mask) {
		u32(m.Single)
		for _, w := range m.Multi {
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
	// Prefix tables can be large: they are summed, not sorted (see
	// prefixSum), so the digest costs one pass over the map.
	prefixes := func(tag byte, tab map[netip.Prefix]classify.Mask) {
		b = append(b, tag)
		sum := prefixSum(tab)
		for _, w := range sum {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	prefixes('S', t.Src)
	prefixes('D', t.Dst)
	b = append(b, 'c')
	for _, c := range slices.Sorted(maps.Keys(t.Process)) {
		b = append(b, c...)
		b = append(b, 0)
		mask(t.Process[c])
	}
	b = append(b, 'g')
	for _, id := range slices.Sorted(maps.Keys(t.Cgroup)) {
		b = binary.LittleEndian.AppendUint64(b, id)
		mask(t.Cgroup[id])
	}
	b = append(b, 'w')
	for _, m := range t.Wild {
		bitsOf(m)
	}
	b = append(b, 'm')
	u32(uint32(len(t.MultiIdx)))
	for _, i := range t.MultiIdx {
		u32(i)
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

// prefixSum digests a prefix table without ordering it: every entry is
// mixed into 128 bits of its own, and the entries' bits are added up (a
// sum does not depend on the map's iteration order), with the count.
func prefixSum(tab map[netip.Prefix]classify.Mask) [3]uint64 {
	var sum [3]uint64
	sum[2] = uint64(len(tab))
	for p, m := range tab {
		a := p.Addr().As16()
		hi, lo := binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])
		x := mix(mix(hi) ^ lo ^ uint64(p.Bits())<<1 ^ uint64(boolByte(p.Addr().Is4())))
		y := mix(x ^ 0x9e3779b97f4a7c15)
		x = mix(x ^ uint64(m.Single))
		for _, w := range m.Multi {
			x = mix(x ^ w)
			y = mix(y + w)
		}
		sum[0] += x
		sum[1] += y
	}
	return sum
}

// mix is splitmix64's finaliser: every input bit changes about half of the
// output bits.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
