// Package classify compiles a policy's apps into the contents of the
// classifier's BPF maps, and holds a Go reference matcher with the policy's
// semantics to check them against. It is pure: no syscalls.
//
// Each selector (a selector with `port` becomes two: one on sport, one on
// dport) gets a number 0..MaxSelectors-1 in policy order. A selector that
// constrains one field is "single": every value of that field it accepts
// records the lowest such number (Mask.Single). A selector that constrains
// several is "multi": it also gets a multi number 0..MaxMulti-1, in policy
// order, and a bit in the bitmap (Mask.Multi) of every value it accepts,
// and in the field's wildcard bitmap for each field it ignores. A packet's
// answer is the lower of the smallest Single over its field values and the
// selector of the first bit of the AND over the fields of (Multi |
// wildcards): first match, at a cost that does not grow with the policy.
package classify

import (
	"math/bits"
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/bpf"
)

// Bits is a set of multi-field selectors (by multi number).
type Bits [bpf.MaxMulti / 64]uint64

// Set adds multi selector i.
func (m *Bits) Set(i int) { m[i/64] |= 1 << (i % 64) }

// Has reports whether multi selector i is in the set.
func (m Bits) Has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

// Or returns the union.
func (m Bits) Or(o Bits) Bits {
	for i := range m {
		m[i] |= o[i]
	}
	return m
}

// And returns the intersection.
func (m Bits) And(o Bits) Bits {
	for i := range m {
		m[i] &= o[i]
	}
	return m
}

// First returns the lowest multi selector in the set, or -1 when it is empty.
func (m Bits) First() int {
	for w, v := range m {
		if v != 0 {
			return w*64 + bits.TrailingZeros64(v)
		}
	}
	return -1
}

// allBits is every multi selector.
func allBits() Bits {
	var b Bits
	for i := range b {
		b[i] = ^uint64(0)
	}
	return b
}

// Mask is what one field value says about the selectors, laid out like
// struct mask in BPF: Single is the lowest single-field selector the
// value satisfies + 1 (0: none), Multi the multi-field selectors it takes
// part in.
type Mask struct {
	Single uint32
	Multi  Bits
}

// SetSingle records single-field selector i.
func (m *Mask) SetSingle(i int) { m.Single = minSingle(m.Single, uint32(i)+1) }

// Or returns the union: the lower single, the union of the bitmaps.
func (m Mask) Or(o Mask) Mask {
	return Mask{Single: minSingle(m.Single, o.Single), Multi: m.Multi.Or(o.Multi)}
}

func minSingle(a, b uint32) uint32 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// IsZero reports whether the value says nothing.
func (m Mask) IsZero() bool { return m == Mask{} }

// BPF returns the mask as the BPF map value type.
func (m Mask) BPF() bpf.ClassifierMask { return bpf.ClassifierMask{Single: m.Single, W: m.Multi} }

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
	// Cgroups are the cgroup ids (inode of the cgroup v2 directory) of
	// every `cgroup:` path of the policy, resolved by the caller.
	Cgroups map[string]uint64
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
// already folded (each includes the selectors of every shorter prefix
// covering it), because the program takes only the longest match.
type Tables struct {
	Proto    map[uint8]Mask
	SPort    []Mask // by port: nil or bpf.NumPorts long (ranges are often wide)
	DPort    []Mask
	Src      map[netip.Prefix]Mask // v4 and v6; the writer splits them
	Dst      map[netip.Prefix]Mask
	Process  map[string]Mask        // by comm
	Cgroup   map[uint64]Mask        // by cgroup id
	Wild     [bpf.NumFields]Bits    // multi-field selectors that ignore the field
	Addr     [bpf.NumAddrs]AddrPlan // by bpf.AddrSrc4..AddrDst6
	Sel      []SelVal               // by selector number
	MultiIdx []uint32               // by multi number: its selector number
	Default  Class
}

// UseProc and UseCgroup say whether the program must find the packet's
// socket owner (gen_info.use_proc, use_cgroup).
func (t *Tables) UseProc() bool   { return len(t.Process) > 0 }
func (t *Tables) UseCgroup() bool { return len(t.Cgroup) > 0 }

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
	return len(t.Proto) + nonZero(t.SPort) + nonZero(t.DPort) + len(t.Src) + len(t.Dst) +
		len(t.Process) + len(t.Cgroup) + len(t.Sel)
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
