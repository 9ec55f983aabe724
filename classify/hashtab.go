package classify

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/bpf"
)

// HashTable is one hashed address field's open-addressing table for one
// generation, as the program probes it: a prefix lives at most Probes-1
// slots after its home slot (linear probing, wrapping around), and every
// slot between its home and it is occupied.
type HashTable struct {
	Shift  uint8      // 64 - log2(len(Slots)): the hash's top bits are the home slot
	Probes int        // the longest displacement + 1
	Slots  []HashSlot // a power of two long
}

// HashSlot is one slot: a prefix and the index of its mask in the list
// Hashed returns; an invalid prefix is an empty slot.
type HashSlot struct {
	Prefix netip.Prefix
	Mask   int
}

// SlotsFor is the table size (slots per generation) for n prefixes: a power
// of two at least twice n (a load of at most one half keeps probe runs short).
func SlotsFor(n int) int {
	return max(bpf.MinSlots, 1<<bits.Len(uint(max(2*n-1, 1))))
}

// MasksFor is the addr_masks size (entries per generation) for n distinct
// masks.
func MasksFor(n int) int {
	return max(bpf.MinMasks, 1<<bits.Len(uint(max(n-1, 1))))
}

// HashSizes is what the hash tables need to hold t: slots per generation
// by field (bpf.Addr*) and distinct address masks.
func (t *Tables) HashSizes() (slots [bpf.NumAddrs]int, masks int) {
	var n [bpf.NumAddrs]int
	seen := map[Mask]bool{}
	for _, src := range []bool{true, false} {
		for p, m := range t.addrTab(src) {
			i := AddrIndex(src, p.Addr().Is4())
			if t.Addr[i].Mode() == bpf.AddrHash {
				n[i]++
				seen[m] = true
			}
		}
	}
	for i := range slots {
		slots[i] = SlotsFor(n[i])
	}
	return slots, MasksFor(len(seen))
}

func (t *Tables) addrTab(src bool) map[netip.Prefix]Mask {
	if src {
		return t.Src
	}
	return t.Dst
}

// Hashed places the prefixes of every hashed field of t in tables of the
// given sizes (slots per generation by field; masks: addr_masks entries per
// generation). A field that does not fit (a prefix would sit MaxProbes or
// more slots from home) goes to the trie instead, as do all of them when
// their distinct masks do not fit: the returned copy of t has those plans
// changed, so it describes what the program will do. tabs[i] is nil for a
// field not hashed; masks lists the distinct masks the slots point to.
func (t *Tables) Hashed(slots [bpf.NumAddrs]int, maxMasks int) (out *Tables, tabs [bpf.NumAddrs]*HashTable, masks []Mask) {
	cp := *t
	out = &cp
	index := map[Mask]int{}
	for i := range out.Addr {
		if out.Addr[i].Mode() != bpf.AddrHash {
			continue
		}
		src := i == bpf.AddrSrc4 || i == bpf.AddrSrc6
		var ps []netip.Prefix
		for p := range t.addrTab(src) {
			if AddrIndex(src, p.Addr().Is4()) == i {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(a, b netip.Prefix) int { // deterministic placement
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		ht, ok := place(ps, slots[i])
		if !ok {
			out.Addr[i].LPM = true
			continue
		}
		for s := range ht.Slots {
			if ht.Slots[s].Prefix.IsValid() {
				m := t.addrTab(src)[ht.Slots[s].Prefix]
				j, seen := index[m]
				if !seen {
					j = len(masks)
					index[m] = j
					masks = append(masks, m)
				}
				ht.Slots[s].Mask = j
			}
		}
		tabs[i] = ht
	}
	if len(masks) > maxMasks {
		for i := range tabs {
			if tabs[i] != nil {
				out.Addr[i].LPM = true
				tabs[i] = nil
			}
		}
		masks = nil
	}
	return out, tabs, masks
}

// place puts ps in a table of n slots (a power of two) by linear probing,
// Robin Hood style (a prefix further from home takes the slot of one
// nearer to its own), which keeps the longest displacement small. It fails
// when a prefix would sit MaxProbes or more slots from home.
func place(ps []netip.Prefix, n int) (*HashTable, bool) {
	if len(ps) > n || len(ps) > bpf.MaxHashPfx || n&(n-1) != 0 {
		return nil, false
	}
	shift := uint8(64 - bits.TrailingZeros(uint(n)))
	ht := &HashTable{Shift: shift, Slots: make([]HashSlot, n)}
	dist := make([]int, n)
	for _, p := range ps {
		cur, d := p, 0
		at := int(HashPrefix(p) >> shift)
		for {
			s := (at + d) & (n - 1)
			if !ht.Slots[s].Prefix.IsValid() {
				ht.Slots[s].Prefix, dist[s] = cur, d
				ht.Probes = max(ht.Probes, d+1)
				break
			}
			if dist[s] < d { // the resident is nearer home: it moves on
				ht.Probes = max(ht.Probes, d+1)
				ht.Slots[s].Prefix, cur = cur, ht.Slots[s].Prefix
				dist[s], d = d, dist[s]
				at = s - d
			}
			d++
			if d >= bpf.MaxProbes {
				return nil, false
			}
		}
	}
	return ht, true
}

// HashPrefix is the program's hash of a masked prefix: multiply-shift over
// the address words as the program loads them (little-endian loads of the
// network-order bytes) and the length.
func HashPrefix(p netip.Prefix) uint64 {
	plen := uint64(p.Bits())
	if p.Addr().Is4() {
		a := p.Masked().Addr().As4()
		return (plen<<32 | uint64(binary.LittleEndian.Uint32(a[:]))) * bpf.HashMul1
	}
	w0, w1 := Words6(p.Masked().Addr())
	return (w0*bpf.HashMul1 + (w1 ^ plen)) * bpf.HashMul2
}

// Words6 is an IPv6 address as the program's two 8-byte loads see it.
func Words6(a netip.Addr) (uint64, uint64) {
	b := a.As16()
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
}
