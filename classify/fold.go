package classify

import (
	"math/bits"
	"net/netip"
	"sort"
)

func trailing(w uint64) int { return bits.TrailingZeros64(w) }

// fold returns the masks with every prefix's mask ORed with the masks of all
// shorter prefixes that cover it: an LPM trie answers only the longest
// match, which must then stand for every prefix containing the address.
// Cost is O(n × distinct prefix lengths), not O(n²).
func fold(in map[netip.Prefix]Mask) map[netip.Prefix]Mask {
	lens := map[bool][]int{} // by Is4
	seen := map[[2]int]bool{}
	for p := range in {
		k := [2]int{b2i(p.Addr().Is4()), p.Bits()}
		if !seen[k] {
			seen[k] = true
			lens[p.Addr().Is4()] = append(lens[p.Addr().Is4()], p.Bits())
		}
	}
	for _, l := range lens {
		sort.Ints(l)
	}
	out := make(map[netip.Prefix]Mask, len(in))
	for p, m := range in {
		for _, l := range lens[p.Addr().Is4()] {
			if l >= p.Bits() {
				break
			}
			q, _ := p.Addr().Prefix(l)
			if c, ok := in[q]; ok {
				m = m.Or(c)
			}
		}
		out[p] = m
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// longest returns the mask of the longest prefix in t containing a, as an
// LPM trie lookup does, or the zero mask.
func longest(t map[netip.Prefix]Mask, a netip.Addr) Mask {
	for l := a.BitLen(); l >= 0; l-- {
		q, _ := a.Prefix(l)
		if m, ok := t[q]; ok {
			return m
		}
	}
	return Mask{}
}
