package classify

import (
	"net/netip"

	"github.com/shaperdev/shaper/bpf"
)

// Lookup classifies p with the compiled tables exactly the way the BPF
// program does: one lookup per field (per prefix length for a hashed
// address field) ORed with the field's wildcard mask, AND over the fields,
// lowest bit wins.
func (t *Tables) Lookup(p Packet) Result {
	def := Result{ClassID: t.Default.ClassID, Slot: t.Default.Slot}
	if !p.IsIP {
		return def
	}
	acc := Mask{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	acc = acc.And(t.Proto[p.Proto].Or(t.Wild[bpf.FieldProto]))
	var sp, dp Mask // packets without ports match only port wildcards
	if p.HasPorts {
		sp, dp = port(t.SPort, p.SPort), port(t.DPort, p.DPort)
	}
	acc = acc.And(sp.Or(t.Wild[bpf.FieldSPort]))
	acc = acc.And(dp.Or(t.Wild[bpf.FieldDPort]))
	acc = acc.And(t.addr(true, p.Src).Or(t.Wild[bpf.FieldSrc]))
	acc = acc.And(t.addr(false, p.Dst).Or(t.Wild[bpf.FieldDst]))
	i := acc.First()
	if i < 0 || i >= len(t.Sel) {
		return def
	}
	s := t.Sel[i]
	return Result{App: s.App, ClassID: s.Class.ClassID, Slot: s.Class.Slot}
}

// addr is the mask of address a in the src or dst table, found the way
// the field's plan says: the trie's longest match, or hash probes longest
// length first.
func (t *Tables) addr(src bool, a netip.Addr) Mask {
	tab := t.Dst
	if src {
		tab = t.Src
	}
	plan := t.Addr[AddrIndex(src, a.Is4())]
	if plan.LPM {
		return longest(tab, a)
	}
	for _, l := range plan.Lens {
		q, _ := a.Prefix(l)
		if m, ok := tab[q]; ok {
			return m
		}
	}
	return Mask{}
}
