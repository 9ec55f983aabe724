package classify

import (
	"fmt"
	"net/netip"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/policy"
)

// sub is one bit of the compiled policy: a selector, or half of a selector
// with `port` (which matches sport OR dport).
type sub struct {
	app    string
	protos []uint8
	sports *portSet // nil = any
	dports *portSet
	src    []netip.Prefix
	dst    []netip.Prefix
}

// Compile turns the ordered apps into map entries. Selector bits follow
// policy order, so the lowest matching bit is the first matching selector.
func Compile(apps []policy.App, b Binding) (*Tables, error) {
	var subs []sub
	for _, a := range apps {
		id, ok := b.AppID[a.Name]
		if !ok || id == 0 || id >= bpf.MaxApps {
			return nil, fmt.Errorf("app %q: no app id in 1..%d given (caller bug)", a.Name, bpf.MaxApps-1)
		}
		for _, s := range a.Match {
			split, err := splitSelector(a, s)
			if err != nil {
				return nil, err
			}
			subs = append(subs, split...)
			if len(subs) > bpf.MaxSelectors {
				return nil, &Error{Pos: s.Pos, App: a.Name, Msg: fmt.Sprintf(
					"the policy needs more than %d selectors (a selector with `port` counts twice): "+
						"merge selectors, e.g. list several ports or prefixes in one selector", bpf.MaxSelectors)}
			}
		}
	}
	if err := checkClass(b.Default, "default class"); err != nil {
		return nil, err
	}
	t := &Tables{
		Proto:   map[uint8]Mask{},
		Src:     map[netip.Prefix]Mask{},
		Dst:     map[netip.Prefix]Mask{},
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
		t.add(i, s)
	}
	t.Src = fold(t.Src)
	t.Dst = fold(t.Dst)
	t.planAddrs()
	return t, nil
}

func checkClass(c Class, what string) error {
	if c.Slot >= bpf.MaxClassSlots {
		return fmt.Errorf("%s: slot %d is beyond the %d class counters (caller bug)", what, c.Slot, bpf.MaxClassSlots)
	}
	return nil
}

// splitSelector returns the sub-selectors of s: one, or two for `port`;
// none when the port constraints cannot all hold (port ∩ sport empty).
func splitSelector(a policy.App, s policy.Selector) ([]sub, error) {
	if s.Process != "" || s.Cgroup != "" {
		return nil, &Error{Pos: s.Pos, App: a.Name, Msg: "process/cgroup selectors are not supported yet by this version: " +
			"match this app by proto, port or address instead, or remove the selector"}
	}
	base := sub{app: a.Name, protos: s.Protos, src: masked(s.Src), dst: masked(s.Dst),
		sports: newPortSet(s.SPorts), dports: newPortSet(s.DPorts)}
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

// add sets bit i in the table of every value s accepts, or in the field's
// wildcard mask when s does not constrain the field.
func (t *Tables) add(i int, s sub) {
	if len(s.protos) == 0 {
		t.Wild[bpf.FieldProto].Set(i)
	}
	for _, p := range s.protos {
		m := t.Proto[p]
		m.Set(i)
		t.Proto[p] = m
	}
	addPorts(&t.SPort, &t.Wild[bpf.FieldSPort], s.sports, i)
	addPorts(&t.DPort, &t.Wild[bpf.FieldDPort], s.dports, i)
	addPrefixes(t.Src, &t.Wild[bpf.FieldSrc], s.src, i)
	addPrefixes(t.Dst, &t.Wild[bpf.FieldDst], s.dst, i)
}

func addPorts(tab *[]Mask, wild *Mask, ps *portSet, i int) {
	if ps == nil {
		wild.Set(i)
		return
	}
	if *tab == nil {
		*tab = make([]Mask, bpf.NumPorts)
	}
	ps.each(func(p uint16) { (*tab)[p].Set(i) })
}

func addPrefixes(tab map[netip.Prefix]Mask, wild *Mask, ps []netip.Prefix, i int) {
	if len(ps) == 0 {
		wild.Set(i)
		return
	}
	for _, p := range ps {
		m := tab[p]
		m.Set(i)
		tab[p] = m
	}
}
