package classify

import (
	"net/netip"

	"github.com/shaperdev/shaper/bpf"
)

// Lookup classifies p with the compiled tables exactly the way the BPF
// program does: one lookup per field (per prefix length for a hashed
// address field); the smallest single over the fields, against the first
// multi selector left in the AND over the fields of (bitmap | wildcards).
func (t *Tables) Lookup(p Packet) Result {
	def := Result{ClassID: t.Default.ClassID, Slot: t.Default.Slot}
	if !p.IsIP {
		return def
	}
	best := ^uint32(0)
	acc := allBits()
	field := func(m Mask, f int) {
		if m.Single != 0 && m.Single-1 < best {
			best = m.Single - 1
		}
		acc = acc.And(m.Multi.Or(t.Wild[f]))
	}
	field(t.Proto[p.Proto], bpf.FieldProto)
	var sp, dp Mask // packets without ports match only port wildcards
	if p.HasPorts {
		sp, dp = port(t.SPort, p.SPort), port(t.DPort, p.DPort)
	}
	field(sp, bpf.FieldSPort)
	field(dp, bpf.FieldDPort)
	field(t.addr(true, p.Src), bpf.FieldSrc)
	field(t.addr(false, p.Dst), bpf.FieldDst)
	var pm, cm Mask
	if t.UseProc() && p.Comm != "" {
		pm = t.Process[p.Comm]
	}
	if t.UseCgroup() && p.Cgroup != 0 {
		cm = t.Cgroup[p.Cgroup]
	}
	field(pm, bpf.FieldProc)
	field(cm, bpf.FieldCgrp)
	if j := acc.First(); j >= 0 && j < len(t.MultiIdx) && t.MultiIdx[j] < best {
		best = t.MultiIdx[j]
	}
	if int64(best) >= int64(len(t.Sel)) {
		return def
	}
	s := t.Sel[best]
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
