package shaper

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/shaper/plan"
)

// KindDefault marks a snapshot of an interface whose root was the device's
// default qdisc (noqueue, pfifo_fast, mq, ...): restoring it means deleting
// whatever root is there, and the kernel puts its default back.
const KindDefault = "default"

// Snapshot is what an interface's egress root held before shaper touched
// it, in the kernel's own units (bytes/s, psched ticks) so that Restore puts
// back exactly the same values. It is JSON-serialisable for the state file.
type Snapshot struct {
	Kind        string       `json:"kind"`                   // KindDefault, htb, tbf, pfifo or bfifo
	DefaultKind string       `json:"default_kind,omitempty"` // with KindDefault: what the kernel had (informational)
	Root        *SavedQdisc  `json:"root,omitempty"`
	Classes     []SavedClass `json:"classes,omitempty"` // HTB classes, parents first
	Qdiscs      []SavedQdisc `json:"qdiscs,omitempty"`  // qdiscs inside the tree (leaf qdiscs of classes)
}

// SavedQdisc is one qdisc's parameters.
type SavedQdisc struct {
	Kind   string `json:"kind"`
	Handle uint32 `json:"handle"`
	Parent uint32 `json:"parent"`
	// htb
	Defcls     uint32  `json:"defcls,omitempty"`
	R2Q        uint32  `json:"r2q,omitempty"`
	DirectQlen *uint32 `json:"direct_qlen,omitempty"`
	// tbf
	Rate     uint64 `json:"rate,omitempty"`   // bytes/s
	Buffer   uint32 `json:"buffer,omitempty"` // psched ticks
	Limit    uint32 `json:"limit,omitempty"`  // bytes
	Peakrate uint64 `json:"peakrate,omitempty"`
	Minburst uint32 `json:"minburst,omitempty"`
}

// SavedClass is one HTB class's parameters.
type SavedClass struct {
	ClassID uint32 `json:"classid"`
	Parent  uint32 `json:"parent"`
	Rate    uint64 `json:"rate"` // bytes/s
	Ceil    uint64 `json:"ceil"`
	Buffer  uint32 `json:"buffer"` // psched ticks
	Cbuffer uint32 `json:"cbuffer"`
	Quantum uint32 `json:"quantum"`
	Prio    uint32 `json:"prio"`
}

// SnapshotError says the interface holds a qdisc set-up shaper cannot put
// back; the user removes it first.
type SnapshotError struct{ Msg string }

func (e *SnapshotError) Error() string  { return e.Msg }
func (e *SnapshotError) BadInput() bool { return true }

// restorable are the kinds this kernel has that Snapshot can save.
var restorable = map[string]bool{"htb": true, "tbf": true, "pfifo": true, "bfifo": true}

// TakeSnapshot records the interface's egress root: the kernel default, or an
// htb/tbf/pfifo/bfifo tree. Anything else is refused with a SnapshotError.
//
// Known limits, both from what the netlink library reads: a pfifo/bfifo is
// restored with the kernel's default limit (txqueuelen), and a tbf root
// with a peakrate is refused (its peak bucket size is not readable).
//
// (The type is Snapshot, so the function cannot share the name.)
func TakeSnapshot(h *netlink.Handle, link netlink.Link) (*Snapshot, error) {
	name := link.Attrs().Name
	qs, err := listQdiscs(h, link)
	if err != nil {
		return nil, err
	}
	root := rootQdisc(qs)
	if root == nil || qdiscState(root).IsDefault() {
		s := &Snapshot{Kind: KindDefault}
		if root != nil {
			s.DefaultKind = root.Type()
		}
		return s, nil
	}
	if !restorable[root.Type()] {
		return nil, cannotRestore(name, root)
	}
	s := &Snapshot{Kind: root.Type(), Root: saveQdisc(root)}
	if s.Root.Peakrate > 0 {
		// The kernel reports TBF's peak bucket (mtu) only in a field the
		// netlink library drops, so it could not be put back exactly.
		return nil, &SnapshotError{Msg: fmt.Sprintf("%s has a tbf root with a peakrate that shaper cannot save and restore exactly: "+
			"remove it with `tc qdisc del dev %s root` first (and re-add it after `shaper delete`)", name, name)}
	}
	major := root.Attrs().Handle & 0xFFFF0000
	for _, q := range qs {
		a := q.Attrs()
		if q == root || a.Parent == netlink.HANDLE_INGRESS || a.Parent == netlink.HANDLE_MIN_INGRESS || a.Parent == netlink.HANDLE_MIN_EGRESS {
			continue // ingress/clsact are not part of the egress tree
		}
		if a.Parent&0xFFFF0000 != major || !restorable[q.Type()] || q.Type() == "htb" {
			return nil, cannotRestore(name, q)
		}
		s.Qdiscs = append(s.Qdiscs, *saveQdisc(q))
	}
	if s.Kind == "htb" {
		cs, err := listClasses(h, link, major)
		if err != nil {
			return nil, err
		}
		s.Classes = parentsFirst(cs, major)
	}
	return s, nil
}

func cannotRestore(dev string, q netlink.Qdisc) error {
	a := q.Attrs()
	where := "root"
	if a.Parent != netlink.HANDLE_ROOT {
		where = "parent " + plan.HandleString(a.Parent)
	}
	return &SnapshotError{Msg: fmt.Sprintf(
		"%s has a %s qdisc (handle %s, %s) that shaper cannot save and restore (it can: htb, tbf, pfifo, bfifo trees): "+
			"remove it with `tc qdisc del dev %s root` first", dev, q.Type(), plan.HandleString(a.Handle), where, dev)}
}

func saveQdisc(q netlink.Qdisc) *SavedQdisc {
	a := q.Attrs()
	s := &SavedQdisc{Kind: q.Type(), Handle: a.Handle, Parent: a.Parent}
	switch q := q.(type) {
	case *netlink.Htb:
		s.Defcls, s.R2Q, s.DirectQlen = q.Defcls, q.Rate2Quantum, q.DirectQlen
	case *netlink.Tbf:
		s.Rate, s.Buffer, s.Limit, s.Peakrate, s.Minburst = q.Rate, q.Buffer, q.Limit, q.Peakrate, q.Minburst
	}
	return s
}

// parentsFirst orders HTB classes so that each comes after its parent.
func parentsFirst(cs []netlink.Class, root uint32) []SavedClass {
	byParent := map[uint32][]SavedClass{}
	for _, c := range cs {
		hc, ok := c.(*netlink.HtbClass)
		if !ok {
			continue
		}
		byParent[hc.Parent] = append(byParent[hc.Parent], SavedClass{
			ClassID: hc.Handle, Parent: hc.Parent, Rate: hc.Rate, Ceil: hc.Ceil,
			Buffer: hc.Buffer, Cbuffer: hc.Cbuffer, Quantum: hc.Quantum, Prio: hc.Prio})
	}
	var out []SavedClass
	var walk func(parent uint32)
	walk = func(parent uint32) {
		for _, c := range byParent[parent] {
			out = append(out, c)
			walk(c.ClassID)
		}
	}
	walk(root)
	walk(netlink.HANDLE_ROOT) // how the kernel reports top-level classes
	return out
}

// Restore puts back what the snapshot recorded: it deletes the current
// root (shaper's or any other) and, unless the snapshot is the kernel
// default, rebuilds the saved tree. A nil snapshot means the default.
func Restore(h *netlink.Handle, link netlink.Link, snap *Snapshot) error {
	name, idx := link.Attrs().Name, link.Attrs().Index
	st, err := ReadState(h, link)
	if err != nil {
		return err
	}
	if !st.Root.IsDefault() {
		del := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: st.Root.Handle, Parent: netlink.HANDLE_ROOT}, QdiscType: st.Root.Kind}
		if err := h.QdiscDel(del); err != nil {
			return fmt.Errorf("restore %s: delete root %s: %w", name, st.Root.Kind, err)
		}
	}
	if snap == nil || snap.Kind == KindDefault {
		return nil
	}
	if snap.Root == nil {
		return fmt.Errorf("restore %s: snapshot of a %s root has no parameters", name, snap.Kind)
	}
	if err := h.QdiscAdd(savedQdisc(idx, snap.Root)); err != nil {
		return fmt.Errorf("restore %s: add root %s %s: %w", name, snap.Root.Kind, plan.HandleString(snap.Root.Handle), err)
	}
	for _, c := range snap.Classes {
		hc := &netlink.HtbClass{
			ClassAttrs: netlink.ClassAttrs{LinkIndex: idx, Handle: c.ClassID, Parent: c.Parent},
			Rate:       c.Rate, Ceil: c.Ceil, Buffer: c.Buffer, Cbuffer: c.Cbuffer, Quantum: c.Quantum, Prio: c.Prio}
		if err := h.ClassAdd(hc); err != nil {
			return fmt.Errorf("restore %s: add class %s: %w", name, plan.HandleString(c.ClassID), err)
		}
	}
	for i := range snap.Qdiscs {
		q := &snap.Qdiscs[i]
		if err := h.QdiscAdd(savedQdisc(idx, q)); err != nil {
			return fmt.Errorf("restore %s: add %s qdisc %s: %w", name, q.Kind, plan.HandleString(q.Handle), err)
		}
	}
	return nil
}

func savedQdisc(idx int, s *SavedQdisc) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: s.Handle, Parent: s.Parent}
	switch s.Kind {
	case "htb":
		q := netlink.NewHtb(attrs)
		q.Defcls, q.DirectQlen = s.Defcls, s.DirectQlen
		if s.R2Q != 0 {
			q.Rate2Quantum = s.R2Q
		}
		return q
	case "tbf":
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: s.Rate, Buffer: s.Buffer, Limit: s.Limit, Peakrate: s.Peakrate, Minburst: s.Minburst}
	}
	// pfifo, bfifo: the kernel's default limit (see Snapshot).
	return &netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: s.Kind}
}
