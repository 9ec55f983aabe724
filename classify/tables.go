// Package classify compiles a policy's apps into the contents of the
// classifier's BPF maps, and holds a Go reference matcher with the policy's
// semantics to check them against. It is pure: no syscalls.
//
// Each selector (a selector with `port` becomes two: one on sport, one on
// dport) gets a bit 0..255 in policy order. Every packet field has a table
// from value to the mask of selectors accepting that value, plus a wildcard
// mask of selectors that do not constrain the field. The AND over the fields
// is the set of matching selectors; the lowest bit wins.
package classify

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/bpf"
)

// Mask is a set of selector indexes, laid out like struct mask in BPF.
type Mask [4]uint64

// Set adds selector i.
func (m *Mask) Set(i int) { m[i/64] |= 1 << (i % 64) }

// Has reports whether selector i is in the set.
func (m Mask) Has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

// Or returns the union.
func (m Mask) Or(o Mask) Mask {
	return Mask{m[0] | o[0], m[1] | o[1], m[2] | o[2], m[3] | o[3]}
}

// And returns the intersection.
func (m Mask) And(o Mask) Mask {
	return Mask{m[0] & o[0], m[1] & o[1], m[2] & o[2], m[3] & o[3]}
}

// IsZero reports whether the set is empty.
func (m Mask) IsZero() bool { return m == Mask{} }

// First returns the lowest selector in the set, or -1 when it is empty.
func (m Mask) First() int {
	for w, v := range m {
		if v != 0 {
			return w*64 + bits.TrailingZeros64(v)
		}
	}
	return -1
}

// BPF returns the mask as the BPF map value type.
func (m Mask) BPF() bpf.ClassifierMask { return bpf.ClassifierMask{W: m} }

// Class is where a packet is shaped and counted: the HTB classid written to
// skb->priority (tc's 1:10 is 0x10010) and the class_stats slot (the HTB
// minor id; 0 for a TBF root).
type Class struct {
	ClassID uint32
	Slot    uint32
}

// Binding ties apps to the numbers the kernel sees.
type Binding struct {
	AppID    map[string]uint32 // stable ids ≥ 1, chosen by the caller; 0 is "unmatched"
	AppClass map[string]Class  // an app absent here goes to Default
	Default  Class             // for unmatched and non-IP packets
}

// Result is a classification: the app (0 = unmatched) and its class.
type Result struct {
	App     uint32
	ClassID uint32
	Slot    uint32
}

// SelVal is what a winning selector maps to (struct sel_val).
type SelVal struct {
	App   uint32
	Class Class
}

// Tables are the compiled entries of every rule map, without generation:
// the map writer adds it. Maps hold only non-empty masks; prefix masks are
// already folded (each includes the bits of every shorter prefix covering
// it), because the program takes only the longest match.
type Tables struct {
	Proto   map[uint8]Mask
	SPort   []Mask // by port: nil or bpf.NumPorts long (ranges are often wide)
	DPort   []Mask
	Src     map[netip.Prefix]Mask // v4 and v6; the writer splits them
	Dst     map[netip.Prefix]Mask
	Wild    [bpf.NumFields]Mask    // selectors that ignore the field
	Addr    [bpf.NumAddrs]AddrPlan // by bpf.AddrSrc4..AddrDst6
	Sel     []SelVal               // by selector index
	Default Class
}

// AddrPlan is how the program looks up one address field of one family
// (src or dst × v4 or v6).
type AddrPlan struct {
	// Lens are the distinct prefix lengths of the field's entries, longest
	// first; empty when the policy has none.
	Lens []int
	// LPM makes the program look the address up in the LPM trie, whose
	// cost grows with its entries. Without it, the program probes a hash
	// map once per length in Lens and takes the first hit: the cost is
	// len(Lens) lookups whatever the number of entries. Compile sets it
	// when the field has more than bpf.MaxHashLens lengths or more entries
	// than a hash generation holds. Setting it on a compiled table is
	// always correct (tests do, to hold both paths against each other).
	LPM bool
}

// Mode is the plan as addr_info.mode.
func (p AddrPlan) Mode() uint8 {
	switch {
	case p.LPM:
		return bpf.AddrLPM
	case len(p.Lens) == 0:
		return bpf.AddrNone
	}
	return bpf.AddrHash
}

// AddrIndex is the bpf.Addr* index of an address field.
func AddrIndex(src, is4 bool) int {
	switch {
	case src && is4:
		return bpf.AddrSrc4
	case is4:
		return bpf.AddrDst4
	case src:
		return bpf.AddrSrc6
	}
	return bpf.AddrDst6
}

// planAddrs decides, per address field, between hash probes and the trie.
func (t *Tables) planAddrs() {
	for _, src := range []bool{true, false} {
		tab := t.Dst
		if src {
			tab = t.Src
		}
		for _, is4 := range []bool{true, false} {
			var lens []int
			seen := map[int]bool{}
			n := 0
			for p := range tab {
				if p.Addr().Is4() != is4 {
					continue
				}
				n++
				if !seen[p.Bits()] {
					seen[p.Bits()] = true
					lens = append(lens, p.Bits())
				}
			}
			slices.Sort(lens)
			slices.Reverse(lens)
			t.Addr[AddrIndex(src, is4)] = AddrPlan{Lens: lens,
				LPM: len(lens) > bpf.MaxHashLens || n > bpf.MaxHashPfx/bpf.NumGens}
		}
	}
}

// Entries is the number of map entries the tables need, for limits and
// reports.
func (t *Tables) Entries() int {
	return len(t.Proto) + nonZero(t.SPort) + nonZero(t.DPort) + len(t.Src) + len(t.Dst) + len(t.Sel)
}

func nonZero(ms []Mask) int {
	n := 0
	for _, m := range ms {
		if !m.IsZero() {
			n++
		}
	}
	return n
}

// port returns the mask of port p in a dense port table (nil = all zero).
func port(tab []Mask, p uint16) Mask {
	if tab == nil {
		return Mask{}
	}
	return tab[p]
}
