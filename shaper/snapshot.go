package shaper

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/loader"
)

// KindDefault marks a snapshot of an interface whose root was the device's
// default qdisc (noqueue, pfifo_fast, mq, ...): restoring it means deleting
// whatever root is there, and the kernel puts its default back.
const KindDefault = "default"

// snapshotVersion 2 keeps tc objects as raw netlink messages; version 1
// (shaper before it) kept decoded parameters and lost filters.
const snapshotVersion = 2

// Snapshot is everything tc showed on an interface before shaper touched
// it: the egress tree (root qdisc, classes, inner qdiscs and the filters on
// any of them) and the ingress or clsact qdisc with its filters. Objects
// are kept as the kernel dumped them, counters removed, and Restore sends
// them back unchanged, so every option comes back exactly, those no Go
// library decodes included (u32 keys, hash tables, actions). It is
// JSON-serialisable for the state file.
type Snapshot struct {
	Version     int           `json:"version"`
	Kind        string        `json:"kind"`                   // the root's kind, or KindDefault
	DefaultKind string        `json:"default_kind,omitempty"` // with KindDefault: what the kernel had (informational)
	Tree        []SavedObject `json:"tree,omitempty"`         // the egress tree, in the order Restore creates it
	Hook        []SavedObject `json:"hook,omitempty"`         // ingress/clsact qdisc and its filters, same order
}

// SavedObject is one qdisc, class or filter.
type SavedObject struct {
	Type string `json:"type"` // qdisc | class | filter
	Desc string `json:"desc"` // as tc names it, for messages
	Msg  []byte `json:"msg"`  // struct tcmsg and attributes (ifindex 0)
}

// SnapshotError says the interface holds tc state that shaper cannot put
// back; the user removes it first.
type SnapshotError struct{ Msg string }

func (e *SnapshotError) Error() string  { return e.Msg }
func (e *SnapshotError) BadInput() bool { return true }

// TakeSnapshot records the interface's tc state. What Restore could not put
// back exactly is refused with a SnapshotError that names the object, so
// that the caller stops before it changes anything. tc objects are read
// as raw netlink messages in the caller's namespace. (The type is
// Snapshot, so the function cannot share the name.)
func TakeSnapshot(link netlink.Link) (*Snapshot, error) {
	name, idx := link.Attrs().Name, link.Attrs().Index
	if err := inLinkNetns(link); err != nil {
		return nil, err
	}
	qs, err := dumpTC(unix.RTM_GETQDISC, idx, 0)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: list qdiscs: %w", name, err)
	}
	cs, err := dumpTC(unix.RTM_GETTCLASS, idx, 0)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: list classes: %w", name, err)
	}
	s := &Snapshot{Version: snapshotVersion, Kind: KindDefault}
	var tree, hook []tcObject
	for _, q := range qs {
		switch {
		case q.Parent == tcHIngress:
			hook = append(hook, q)
		case q.Parent == tcHRoot && (q.Handle == 0 || q.kind() == "noqueue"):
			s.DefaultKind = q.kind()
		case q.Handle != 0: // handle 0 below the root: the default's own children (mq)
			tree = append(tree, q)
		}
	}
	if len(tree) > 0 {
		if s.Tree, err = saveTree(name, idx, tree, cs); err != nil {
			return nil, err
		}
		s.Kind = tree[rootIndex(tree)].kind()
	}
	if len(hook) > 0 {
		if s.Hook, err = saveHook(name, idx, hook[0]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func rootIndex(qs []tcObject) int {
	for i, q := range qs {
		if q.Parent == tcHRoot {
			return i
		}
	}
	return 0
}

// saveTree orders the egress tree so that every object comes after what
// it hangs from, then adds the filters of every qdisc and class.
func saveTree(dev string, idx int, qs, cs []tcObject) ([]SavedObject, error) {
	majors := map[uint32]string{}
	for _, q := range qs {
		majors[q.Handle&0xFFFF0000] = q.kind()
	}
	var classes []tcObject
	var implicit []uint32 // classes the qdisc makes itself (tbf's 1)
	for _, c := range cs {
		if kind, ok := majors[c.Handle&0xFFFF0000]; ok {
			if c.Parent == tcHRoot {
				c.Parent = c.Handle & 0xFFFF0000 // top-level class: "parent 1:", as tc sends it
			}
			if userClasses[kind] {
				classes = append(classes, c)
			} else {
				implicit = append(implicit, c.Handle)
			}
		}
	}
	ordered, err := parentsFirst(dev, qs, classes, implicit)
	if err != nil {
		return nil, err
	}
	var out []SavedObject
	for _, o := range ordered {
		so, err := saveObject(dev, o.what, o.obj)
		if err != nil {
			return nil, err
		}
		out = append(out, so)
	}
	parents := implicit
	for _, o := range ordered {
		parents = append(parents, o.obj.Handle)
	}
	fs, err := saveFilters(dev, idx, parents, true)
	if err != nil {
		return nil, err
	}
	out = append(out, fs...)
	return out, nil
}

// userClasses are the qdiscs whose classes are made one by one (`tc class
// add`); the others (tbf, prio, mq) make their classes themselves.
var userClasses = map[string]bool{"htb": true, "hfsc": true, "drr": true, "qfq": true, "cbq": true, "atm": true}

type treeObj struct {
	what string // qdisc or class
	obj  tcObject
}

// parentsFirst puts the root qdisc first and then, repeatedly, every class
// whose parent (qdisc or class) is placed and every qdisc whose parent
// class is placed.
func parentsFirst(dev string, qs, cs []tcObject, implicit []uint32) ([]treeObj, error) {
	placed := map[uint32]bool{tcHRoot: true}
	for _, id := range implicit {
		placed[id] = true
	}
	var out []treeObj
	pending := make([]treeObj, 0, len(qs)+len(cs))
	for _, q := range qs {
		pending = append(pending, treeObj{"qdisc", q})
	}
	for _, c := range cs {
		pending = append(pending, treeObj{"class", c})
	}
	for len(pending) > 0 {
		var rest []treeObj
		for _, p := range pending {
			if placed[p.obj.Parent] {
				out = append(out, p)
				placed[p.obj.Handle] = true
			} else {
				rest = append(rest, p)
			}
		}
		if len(rest) == len(pending) {
			return nil, &SnapshotError{Msg: fmt.Sprintf("%s: %s hangs from %s, which tc does not show: shaper cannot save this tree; "+
				"remove it with `tc qdisc del dev %s root` first", dev, describeTC(rest[0].what, rest[0].obj), parentString(rest[0].obj.Parent), dev)}
		}
		pending = rest
	}
	return out, nil
}

// saveHook saves the ingress or clsact qdisc and the filters on its hooks.
func saveHook(dev string, idx int, q tcObject) ([]SavedObject, error) {
	so, err := saveObject(dev, "qdisc", q)
	if err != nil {
		return nil, err
	}
	fs, err := saveFilters(dev, idx, hookParents(q.kind()), false)
	if err != nil {
		return nil, err
	}
	return append([]SavedObject{so}, fs...), nil
}

// isOurFilter reports whether a filter is shaper's classifier (the
// loader's cls_bpf filter, left by an earlier run).
func isOurFilter(f tcObject) bool {
	if f.kind() != "bpf" {
		return false
	}
	opts, err := parseAttrs(f.attr(tcaOptions))
	if err != nil {
		return false
	}
	name := strings.TrimRight(string(findAttr(opts, tcaBPFName)), "\x00")
	return name == loader.FilterName || strings.HasPrefix(name, progPrefix)
}

// Attributes of the bpf classifier that matter here (TCA_BPF_*).
const (
	tcaBPFOps      = 5 // classic BPF bytecode: dumped and taken back as is
	tcaBPFName     = 7
	tcaBPFFlagsGen = 9
)

// needsProgram reports whether a filter runs an eBPF program: the dump
// names it by id, and the program is freed with its last filter, so such a
// filter cannot be created again. Classic BPF (bytecode) can.
func needsProgram(f tcObject) bool {
	if f.kind() != "bpf" {
		return false
	}
	opts, err := parseAttrs(f.attr(tcaOptions))
	return err != nil || findAttr(opts, tcaBPFOps) == nil
}

// saveObject keeps what creating the object again needs and refuses what
// cannot be put back.
func saveObject(dev, what string, o tcObject) (SavedObject, error) {
	desc := describeTC(what, o)
	refuse := func(why, todo string) (SavedObject, error) {
		return SavedObject{}, &SnapshotError{Msg: fmt.Sprintf("%s: %s %s, which shaper cannot save and restore exactly: %s", dev, desc, why, todo)}
	}
	delRoot := fmt.Sprintf("remove it first (`tc qdisc del dev %s root`, or `tc qdisc del dev %s clsact` / `ingress`) and add it again after `shaper delete`", dev, dev)
	if hasRateEstimator(o) {
		return refuse("has a rate estimator (its interval is not readable back)", delRoot)
	}
	keep := tcObject{Handle: o.Handle, Parent: o.Parent}
	if what == "filter" {
		keep.Info = o.Info // priority and protocol; for qdiscs and classes the kernel reports counts here
	}
	for _, a := range o.Attrs {
		switch a.Type & nlaTypeMask {
		case tcaKind, tcaChain:
			keep.Attrs = append(keep.Attrs, a)
		case tcaOptions:
			opts, err := fixOptions(what, o.kind(), a.Data)
			if err != nil {
				return SavedObject{}, fmt.Errorf("%s: %s: %w", dev, desc, err)
			}
			keep.Attrs = append(keep.Attrs, tcAttr{Type: a.Type, Data: opts})
		case tcaStab:
			if stabHasTable(a.Data) {
				return refuse("has a size table (stab) whose table the kernel does not report", delRoot)
			}
			keep.Attrs = append(keep.Attrs, a)
		case tcaIngressBlock, tcaEgressBlock:
			return refuse("uses a shared filter block", delRoot)
		case tcaStats, tcaXstats, tcaStats2, tcaFcnt, tcaPad, tcaHwOffload, tcaDumpInvisible, tcaDumpFlags, tcaExtWarnMsg:
			// counters and flags the kernel computes
		default:
			return refuse(fmt.Sprintf("has attribute %d that this shaper does not know", a.Type&nlaTypeMask), delRoot)
		}
	}
	return SavedObject{Type: what, Desc: desc, Msg: keep.serialize()}, nil
}

// stabHasTable reports whether a TCA_STAB carries a size table (tsize > 0):
// the kernel reports only the table's parameters, not its contents.
func stabHasTable(b []byte) bool {
	as, err := parseAttrs(b)
	if err != nil {
		return true
	}
	base := findAttr(as, 1) // TCA_STAB_BASE: struct tc_sizespec, tsize at offset 20
	return len(base) < 24 || base[20] != 0 || base[21] != 0 || base[22] != 0 || base[23] != 0
}
