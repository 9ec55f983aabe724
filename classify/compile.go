package classify

import (
	"fmt"
	"net/netip"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/policy"
)

// sub is one numbered selector: a selector, or half of a selector with
// `port` (which matches sport OR dport).
type sub struct {
	app     string
	protos  []uint8
	sports  *portSet // nil = any
	dports  *portSet
	src     []netip.Prefix
	dst     []netip.Prefix
	process string // "" = any
	cgroup  uint64 // 0 = any
}

// fields is the number of fields s constrains.
func (s sub) fields() int {
	n := 0
	for _, c := range []bool{len(s.protos) > 0, s.sports != nil, s.dports != nil,
		len(s.src) > 0, len(s.dst) > 0, s.process != "", s.cgroup != 0} {
		if c {
			n++
		}
	}
	return n
}

// Compile turns the ordered apps into map entries. Selector numbers follow
// policy order, so the lowest matching number is the first match.
func Compile(apps []policy.App, b Binding) (*Tables, error) {
	subs, err := subsOf(apps, b)
	if err != nil {
		return nil, err
	}
	if err := checkClass(b.Default, "default class"); err != nil {
		return nil, err
	}
	t := &Tables{
		Proto:   map[uint8]Mask{},
		Src:     map[netip.Prefix]Mask{},
		Dst:     map[netip.Prefix]Mask{},
		Process: map[string]Mask{},
		Cgroup:  map[uint64]Mask{},
		Default: b.Default,
	}
	for i, s := range subs {
		cls, ok := b.AppClass[s.app]
		if !ok {
			cls = b.Default
		}
		if err := checkClass(cls, "class of app "+s.app); err != nil {
			return nil, err
		}
		t.Sel = append(t.Sel, SelVal{App: b.AppID[s.app], Class: cls})
		multi := -1
		if s.fields() != 1 {
			multi = len(t.MultiIdx)
			t.MultiIdx = append(t.MultiIdx, uint32(i))
		}
		t.add(i, multi, s)
	}
	t.Src = fold(t.Src)
	t.Dst = fold(t.Dst)
	t.planAddrs()
	return t, nil
}

// subsOf numbers the selectors of apps in policy order, within the limits.
func subsOf(apps []policy.App, b Binding) ([]sub, error) {
	var subs []sub
	multi := 0
	for _, a := range apps {
		id, ok := b.AppID[a.Name]
		if !ok || id == 0 || id >= bpf.MaxApps {
			return nil, fmt.Errorf("app %q: no app id in 1..%d given (caller bug)", a.Name, bpf.MaxApps-1)
		}
		for _, s := range a.Match {
			split, err := splitSelector(a, s, b)
			if err != nil {
				return nil, err
			}
			for _, c := range split {
				if c.fields() != 1 {
					multi++
				}
			}
			subs = append(subs, split...)
			if len(subs) > bpf.MaxSelectors {
				return nil, &Error{Pos: s.Pos, App: a.Name, Msg: fmt.Sprintf(
					"the policy needs more than %d selectors (a selector with `port` counts twice): "+
						"merge selectors, e.g. list several ports or prefixes in one selector", bpf.MaxSelectors)}
			}
			if multi > bpf.MaxMulti {
				return nil, &Error{Pos: s.Pos, App: a.Name, Msg: fmt.Sprintf(
					"the policy needs more than %d selectors with two or more fields (a selector with `port` "+
						"counts twice): give such selectors one field each where you can (e.g. `src` alone), "+
						"or merge them", bpf.MaxMulti)}
			}
		}
	}
	return subs, nil
}

func checkClass(c Class, what string) error {
	if c.Slot >= bpf.MaxClassSlots {
		return fmt.Errorf("%s: slot %d is beyond the %d class counters (caller bug)", what, c.Slot, bpf.MaxClassSlots)
	}
	return nil
}

// splitSelector returns the sub-selectors of s: one, or two for `port`;
// none when the port constraints cannot all hold (port ∩ sport empty).
func splitSelector(a policy.App, s policy.Selector, b Binding) ([]sub, error) {
	base := sub{app: a.Name, protos: s.Protos, src: masked(s.Src), dst: masked(s.Dst),
		sports: newPortSet(s.SPorts), dports: newPortSet(s.DPorts), process: s.Process}
	if s.Cgroup != "" {
		id, ok := b.Cgroups[s.Cgroup]
		if !ok || id == 0 {
			return nil, fmt.Errorf("app %q: cgroup %s has no id given (caller bug)", a.Name, s.Cgroup)
		}
		base.cgroup = id
	}
	if len(s.Ports) == 0 {
		return []sub{base}, nil
	}
	ports := newPortSet(s.Ports)
	bySport, byDport := base, base
	bySport.sports = intersect(ports, base.sports)
	byDport.dports = intersect(ports, base.dports)
	var out []sub
	for _, c := range []sub{bySport, byDport} {
		if c.sports.nonEmpty() && c.dports.nonEmpty() {
			out = append(out, c)
		}
	}
	return out, nil
}

// nonEmpty is true for a wildcard or a set with a port in it.
func (s *portSet) nonEmpty() bool { return s == nil || !s.empty() }

func masked(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Masked()
	}
	return out
}

// add records selector i (multi number j, or -1 for a single-field
// selector) in the table of every value s accepts, and a multi selector in
// the wildcards of every field s ignores.
func (t *Tables) add(i, j int, s sub) {
	set := func(m *Mask) {
		if j < 0 {
			m.SetSingle(i)
		} else {
			m.Multi.Set(j)
		}
	}
	wild := func(f int) {
		if j >= 0 {
			t.Wild[f].Set(j)
		}
	}
	if len(s.protos) == 0 {
		wild(bpf.FieldProto)
	}
	for _, p := range s.protos {
		m := t.Proto[p]
		set(&m)
		t.Proto[p] = m
	}
	addPorts(&t.SPort, s.sports, set, func() { wild(bpf.FieldSPort) })
	addPorts(&t.DPort, s.dports, set, func() { wild(bpf.FieldDPort) })
	addPrefixes(t.Src, s.src, set, func() { wild(bpf.FieldSrc) })
	addPrefixes(t.Dst, s.dst, set, func() { wild(bpf.FieldDst) })
	if s.process == "" {
		wild(bpf.FieldProc)
	} else {
		m := t.Process[s.process]
		set(&m)
		t.Process[s.process] = m
	}
	if s.cgroup == 0 {
		wild(bpf.FieldCgrp)
	} else {
		m := t.Cgroup[s.cgroup]
		set(&m)
		t.Cgroup[s.cgroup] = m
	}
}

func addPorts(tab *[]Mask, ps *portSet, set func(*Mask), wild func()) {
	if ps == nil {
		wild()
		return
	}
	if *tab == nil {
		*tab = make([]Mask, bpf.NumPorts)
	}
	ps.each(func(p uint16) { set(&(*tab)[p]) })
}

func addPrefixes(tab map[netip.Prefix]Mask, ps []netip.Prefix, set func(*Mask), wild func()) {
	if len(ps) == 0 {
		wild()
		return
	}
	for _, p := range ps {
		m := tab[p]
		set(&m)
		tab[p] = m
	}
}
