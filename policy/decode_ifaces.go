package policy

import (
	"fmt"
	"strings"

	"github.com/shaperdev/shaper/internal/units"
	"github.com/shaperdev/shaper/internal/yamldoc"
)

// maxClassDepth is how deep classes may nest: HTB has 8 levels
// (TC_HTB_MAXDEPTH) and the root rate takes one of them.
const maxClassDepth = 7

// Via values: how ingress traffic reaches the queue that shapes it.
const (
	ViaNetns = "netns"
	ViaIFB   = "ifb"
)

func (d *decoder) iface(n *yamldoc.Node) Interface {
	it := Interface{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, "an interface", "name", "netns", "egress", "ingress")
	if !ok {
		return it
	}
	if v := f.Get("name"); v == nil {
		d.Fail(f.Node, `add "name: eth0"`, "the interface needs a name")
	} else {
		it.NamePos = d.Pos(v)
		if s, ok := d.Str(v, "interface name"); ok {
			if msg := checkIfname(s); msg != "" {
				d.Fail(v, "an interface name has 1 to 15 characters without '/', ':' or spaces", "invalid interface name %q: %s", s, msg)
			} else {
				it.Name = s
			}
		}
	}
	if v := f.Get("netns"); v != nil {
		if s, ok := d.Str(v, "netns"); ok {
			if msg := checkNetns(s); msg != "" {
				d.Fail(v, `give the name shown by "ip netns list", or "" for the current namespace`, "invalid netns name %q: %s", s, msg)
			} else {
				it.Netns = s
			}
		}
	}
	if v := f.Get("egress"); v != nil {
		it.Egress = d.direction(v, "egress")
	}
	if v := f.Get("ingress"); v != nil {
		it.Ingress = d.direction(v, "ingress")
	}
	if it.Egress == nil && it.Ingress == nil {
		d.Fail(f.Node, "add \"egress: {}\" to count upload traffic without shaping it, or egress/ingress with a rate",
			"interface %q has neither egress nor ingress", it.Name)
	}
	return it
}

// checkIfname applies the kernel's dev_valid_name rules.
func checkIfname(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > 15:
		return "it is longer than 15 characters"
	case s == "." || s == "..":
		return "it is reserved"
	case strings.ContainsAny(s, "/: \t\n\r\v\f"):
		return "it contains '/', ':' or a space"
	}
	return ""
}

// checkNetns accepts what "ip netns add" accepts: a file name under
// /run/netns.
func checkNetns(s string) string {
	switch {
	case s == "":
		return ""
	case s == "." || s == "..":
		return "it is reserved"
	case len(s) > 255:
		return "it is too long"
	case strings.ContainsAny(s, "/\x00"):
		return "it contains '/'"
	}
	return ""
}

func (d *decoder) direction(n *yamldoc.Node, dir string) *Direction {
	dd := &Direction{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, dir, "rate", "default", "classes", "tbf", "via")
	if !ok {
		return dd
	}
	if v := f.Get("rate"); v != nil {
		dd.Rate = d.rate(v, "rate")
	}
	if v := f.Get("default"); v != nil {
		dd.DefaultPos = d.Pos(v)
		if s, ok := d.Str(v, "default"); ok {
			if s == "" {
				d.Fail(v, "name one of the leaf classes", "default is empty")
			}
			dd.Default = s
		}
	}
	if v := f.Get("classes"); v != nil {
		for _, it := range d.List(v, "classes") {
			dd.Classes = append(dd.Classes, d.class(it, 1))
		}
	}
	if v := f.Get("tbf"); v != nil {
		dd.TBF = d.tbf(v)
	}
	if v := f.Get("via"); v != nil {
		d.via(v, dir, dd)
	}
	if dir == "ingress" && dd.Via == "" {
		dd.Via = ViaNetns
	}
	return dd
}

func (d *decoder) via(n *yamldoc.Node, dir string, dd *Direction) {
	if dir != "ingress" {
		d.Fail(n, "egress is shaped on the interface itself; via is for ingress", "via is only for ingress")
		return
	}
	s, ok := d.Str(n, "via")
	if !ok {
		return
	}
	if s != ViaNetns && s != ViaIFB {
		d.Fail(n, `use "netns" (a shaping namespace, the default) or "ifb" (an IFB device)`, "unknown via %q", s)
		return
	}
	dd.Via = s
}

// rate decodes a rate or percentage; zero is an error. The result is Set
// even when invalid: it was given, and validation must not also call it
// missing.
func (d *decoder) rate(n *yamldoc.Node, what string) Rate {
	r := Rate{Set: true, Pos: d.Pos(n)}
	s, ok := d.text(n, what)
	if !ok {
		return r
	}
	bits, pct, isPct, err := units.ParseRate(s)
	switch {
	case err != nil:
		d.FailErr(n, err)
	case isPct:
		r.Percent = pct
	case bits == 0:
		d.Fail(n, "give a rate above 0, like 8kbit", "%s must be above 0", what)
	default:
		r.Bits = bits
	}
	return r
}

// absRate decodes a rate that cannot be a percentage (tbf has no parent).
func (d *decoder) absRate(n *yamldoc.Node, what string) uint64 {
	r := d.rate(n, what)
	if r.Percent > 0 {
		d.Fail(n, "a tbf has no parent rate to take a percentage of; write e.g. 10mbit", "%s must be an absolute rate, not a percentage", what)
		return 0
	}
	return r.Bits
}

func (d *decoder) size(n *yamldoc.Node, what string) uint32 {
	s, ok := d.text(n, what)
	if !ok {
		return 0
	}
	v, err := units.ParseSize(s)
	if err != nil {
		d.FailErr(n, err)
	}
	return v
}

func (d *decoder) class(n *yamldoc.Node, depth int) Class {
	c := Class{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, "a class", "name", "rate", "ceil", "prio", "burst", "cburst", "quantum", "apps", "classes")
	if !ok {
		return c
	}
	c.Name, c.NamePos = d.name(f, "class")
	if v := f.Get("rate"); v != nil {
		c.Rate = d.rate(v, "rate")
	}
	if v := f.Get("ceil"); v != nil {
		c.Ceil = d.rate(v, "ceil")
	}
	if v := f.Get("prio"); v != nil {
		if p, ok := d.Int(v, "prio"); ok {
			if p < 0 || p > 7 {
				d.Fail(v, "prio is 0 (served first) to 7", "prio %d is out of range", p)
			} else {
				c.Prio = int(p)
			}
		}
	}
	if v := f.Get("burst"); v != nil {
		c.Burst = d.size(v, "burst")
	}
	if v := f.Get("cburst"); v != nil {
		c.CBurst = d.size(v, "cburst")
	}
	if v := f.Get("quantum"); v != nil {
		c.Quantum = d.size(v, "quantum")
	}
	if v := f.Get("apps"); v != nil {
		for _, it := range d.List(v, "apps") {
			if s, ok := d.Str(it, "app name"); ok {
				c.Apps = append(c.Apps, s)
				c.AppsPos = append(c.AppsPos, d.Pos(it))
			}
		}
	}
	if v := f.Get("classes"); v != nil {
		if depth >= maxClassDepth {
			d.Fail(v, "HTB has 8 levels and the root rate takes one", "classes nest more than %d levels deep", maxClassDepth)
			return c
		}
		for _, it := range d.List(v, "classes") {
			c.Classes = append(c.Classes, d.class(it, depth+1))
		}
	}
	return c
}

func (d *decoder) tbf(n *yamldoc.Node) *TBF {
	t := &TBF{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, "tbf", "rate", "burst", "latency", "limit", "peakrate", "mtu")
	if !ok {
		return t
	}
	const example = `a tbf looks like {rate: 1024kbit, burst: 1540, latency: 50ms}`
	for _, k := range []string{"rate", "burst"} {
		if f.Get(k) == nil {
			d.Fail(f.Node, example, "tbf needs a %s", k)
		}
	}
	if v := f.Get("rate"); v != nil {
		t.Rate = d.absRate(v, "tbf rate")
	}
	if v := f.Get("burst"); v != nil {
		if t.Burst = d.size(v, "burst"); t.Burst == 0 && !d.Bad[d.Pos(v)] {
			d.Fail(v, "burst is the bytes sent at once at full speed: at least one packet, like 1540", "burst must be above 0")
		}
	}
	lat, lim := f.Get("latency"), f.Get("limit")
	switch {
	case lat != nil && lim != nil:
		d.Fail(lim, "latency sets the limit from the rate; keep one of them", "tbf takes latency or limit, not both")
	case lat == nil && lim == nil:
		d.Fail(f.Node, example, "tbf needs latency or limit")
	case lat != nil:
		if s, ok := d.text(lat, "latency"); ok {
			if v, err := units.ParseDuration(s); err != nil {
				d.FailErr(lat, err)
			} else if v <= 0 {
				d.Fail(lat, "like 50ms", "latency must be above 0")
			} else {
				t.Latency = v
			}
		}
	default:
		if t.Limit = d.size(lim, "limit"); t.Limit == 0 && !d.Bad[d.Pos(lim)] {
			d.Fail(lim, "limit is the bytes that may wait in the queue", "limit must be above 0")
		}
	}
	d.peak(f, t)
	return t
}

// peak decodes peakrate and mtu, which go together as in tc.
func (d *decoder) peak(f yamldoc.Fields, t *TBF) {
	pv, mv := f.Get("peakrate"), f.Get("mtu")
	if pv != nil {
		t.Peak = d.absRate(pv, "peakrate")
		if t.Peak > 0 && t.Rate > 0 && t.Peak <= t.Rate {
			d.Fail(pv, fmt.Sprintf("raise it above the rate %s, or leave it out", units.FormatRate(t.Rate)), "peakrate %s is not above the rate", units.FormatRate(t.Peak))
		}
		if mv == nil {
			d.Fail(pv, "add e.g. \"mtu: 1540\": the peak bucket holds one packet", "peakrate needs mtu")
		}
	}
	if mv != nil {
		if t.MTU = d.size(mv, "mtu"); t.MTU == 0 && !d.Bad[d.Pos(mv)] {
			d.Fail(mv, "like 1540", "mtu must be above 0")
		}
	}
}
