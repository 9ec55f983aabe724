package classify

import "github.com/shaperdev/shaper/bpf"

// Lookup classifies p with the compiled tables exactly the way the BPF
// program does: one lookup per field ORed with the field's wildcard mask,
// AND over the fields, lowest bit wins.
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
	acc = acc.And(longest(t.Src, p.Src).Or(t.Wild[bpf.FieldSrc]))
	acc = acc.And(longest(t.Dst, p.Dst).Or(t.Wild[bpf.FieldDst]))
	i := acc.First()
	if i < 0 || i >= len(t.Sel) {
		return def
	}
	s := t.Sel[i]
	return Result{App: s.App, ClassID: s.Class.ClassID, Slot: s.Class.Slot}
}
