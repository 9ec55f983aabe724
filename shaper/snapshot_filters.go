package shaper

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// hookParents are the filter attachment points of an ingress or clsact
// qdisc.
func hookParents(kind string) []uint32 {
	if kind == "clsact" {
		return []uint32{ingressMajor | tcHMinIngr, ingressMajor | tcHMinEgress}
	}
	return []uint32{ingressMajor | tcHMinIngr}
}

// dumpFilters lists the filters attached at each parent, with the parent
// set on each (the dump leaves it to the caller).
func dumpFilters(idx int, parents []uint32) ([]tcObject, error) {
	var all []tcObject
	for _, p := range parents {
		fs, err := dumpTC(unix.RTM_GETTFILTER, idx, p)
		if err != nil {
			return nil, fmt.Errorf("list filters of %s: %w", parentString(p), err)
		}
		for _, f := range fs {
			f.Parent = p
			all = append(all, f)
		}
	}
	return all, nil
}

// saveFilters saves the filters attached at the parents (qdiscs, classes
// or clsact hooks) in the order Restore must create them. Filters in the
// egress tree go with it when shaper replaces the root; those on the
// ingress/clsact hooks stay where they are (inTree false), so a BPF filter
// there needs no restoring.
func saveFilters(dev string, idx int, parents []uint32, inTree bool) ([]SavedObject, error) {
	all, err := dumpFilters(idx, parents)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dev, err)
	}
	ordered, err := filterOrder(dev, all)
	if err != nil {
		return nil, err
	}
	var out []SavedObject
	for _, f := range ordered {
		if isOurFilter(f) {
			continue // shaper's own classifier is not part of what was there
		}
		if needsProgram(f) && inTree {
			return nil, &SnapshotError{Msg: fmt.Sprintf("%s: %s runs a BPF program that is freed once shaper replaces the root qdisc, so shaper cannot restore it: "+
				"remove the filter (or the root qdisc: `tc qdisc del dev %s root`) first and add it again after `shaper delete`", dev, describeTC("filter", f), dev)}
		}
		so, err := saveObject(dev, "filter", f)
		if err != nil {
			return nil, err
		}
		out = append(out, so)
	}
	return out, nil
}

// u32Chain is a u32 filter chain's header and its root hash table's id.
type u32Chain struct {
	root   uint32
	header tcObject
}

// filterOrder orders filters for creation. A dump lists, per filter chain
// (parent, priority and protocol, chain index), a header without handle
// and then the filters. For most classifiers the header carries nothing
// and is dropped. u32 needs more: creating its header makes the chain's
// root hash table, whose id the kernel picks (800:, then 801:, ... for each
// new chain under the same qdisc, classes included), and key nodes and
// links name tables by id, across chains. So: u32 headers in the order of
// their root tables' ids, then every other table, then every key node,
// then the other classifiers' filters.
func filterOrder(dev string, fs []tcObject) ([]tcObject, error) {
	var headers []u32Chain
	var tables, nodes, others []tcObject
	for _, g := range filterGroups(fs) {
		if g[0].kind() != "u32" {
			for _, f := range g {
				if f.Handle != 0 {
					others = append(others, f)
				}
			}
			continue
		}
		var ts []tcObject
		var hdr *tcObject
		for i, f := range g {
			switch {
			case f.Handle == 0:
				hdr = &g[i]
			case f.Handle&0xFFF == 0: // a hash table: no node id
				ts = append(ts, f)
			default:
				nodes = append(nodes, f)
			}
		}
		if hdr == nil || len(ts) == 0 {
			return nil, fmt.Errorf("snapshot %s: u32 filter chain pref %d at %s dumped without its header or root table", dev, g[0].Info>>16, parentString(g[0].Parent))
		}
		// Tables are listed newest first: the chain's root is the last.
		headers = append(headers, u32Chain{root: ts[len(ts)-1].Handle, header: *hdr})
		tables = append(tables, ts[:len(ts)-1]...)
	}
	sort.SliceStable(headers, func(i, j int) bool { return headers[i].root < headers[j].root })
	if err := checkU32Roots(dev, headers); err != nil {
		return nil, err
	}
	out := make([]tcObject, 0, len(fs))
	for _, h := range headers {
		out = append(out, h.header)
	}
	out = append(out, tables...)
	out = append(out, nodes...)
	return append(out, others...), nil
}

// checkU32Roots refuses u32 root tables whose ids creating the chains
// again would not give: the kernel numbers them 800:, 801:, ... per qdisc,
// so a gap (a chain deleted since) cannot be reproduced.
func checkU32Roots(dev string, hs []u32Chain) error {
	next := map[uint32]uint32{} // qdisc major → next root id
	for _, h := range hs {
		major := h.header.Parent & 0xFFFF0000
		want, ok := next[major]
		if !ok {
			want = 0x80000000
		}
		if h.root != want {
			return &SnapshotError{Msg: fmt.Sprintf("%s: %s has root hash table %x: which creating it again would not give (the next free one is %x): "+
				"shaper cannot restore it exactly; delete and re-add the u32 filters of qdisc %s so that their tables are numbered from 800: without gaps, or remove them first",
				dev, describeTC("filter", h.header), h.root>>20, want>>20, parentString(major))}
		}
		next[major] = want + 1<<20
	}
	return nil
}

// filterGroups splits a filter dump by filter chain: one parent, one
// priority and protocol (tcm_info), one chain index, in dump order.
func filterGroups(fs []tcObject) [][]tcObject {
	type key struct {
		parent, info uint32
		chain        string
	}
	var order []key
	groups := map[key][]tcObject{}
	for _, f := range fs {
		k := key{f.Parent, f.Info, string(f.attr(tcaChain))}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	out := make([][]tcObject, 0, len(order))
	for _, k := range order {
		out = append(out, groups[k])
	}
	return out
}
