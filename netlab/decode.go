package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shaperdev/shaper/internal/units"
	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Load reads and parses a topology file.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput("read topology: %v", err)
	}
	return Parse(path, data)
}

// maxValues bounds how many mappings and list items a topology may expand
// to through YAML aliases.
const maxValues = 100_000

// Parse decodes, resolves and validates a topology. file names the source in
// error positions, and gives the lab its default name (the file's base name
// without extension) when the file has no `name:`. Every problem is
// reported at once, as a TopologyError.
func Parse(file string, data []byte) (*Topology, error) {
	d := &decoder{Decoder: yamldoc.NewDecoder(file, maxValues)}
	root, perr := yamldoc.Parse(file, data)
	switch {
	case perr != nil:
		return nil, yamldoc.List{perr}.Report(file, data)
	case root == nil:
		d.p.add(Pos{File: file, Line: 1, Col: 1}, "empty topology: give at least nodes: and links:")
		return nil, d.p.list.Report(file, data)
	}
	raw := &rawTopo{kinds: map[Kind]*settings{}}
	d.document(root, raw)
	if raw.name == "" && file != "" {
		base := filepath.Base(file)
		raw.name = strings.TrimSuffix(base, filepath.Ext(base))
		raw.namePos = Pos{File: file}
	}
	// Resolve even after decoding problems: the structural checks add
	// theirs, so that one run lists every problem.
	d.p.list = append(d.p.list, d.Errs...)
	var t *Topology
	if !d.Exhausted() {
		t = resolve(raw, &d.p)
	}
	if err := d.p.list.Report(file, data); err != nil {
		return nil, err
	}
	return t, nil
}

// rawTopo is the file as written, before defaults and addressing.
type rawTopo struct {
	name       string
	namePos    Pos
	defaults   settings
	kinds      map[Kind]*settings
	addressing addressing
	nodes      []*rawNode
	links      []*Link
}

type rawNode struct {
	name string
	pos  Pos
	set  settings
}

// settings are the fields that defaults, kinds and nodes share; unset
// fields fall through node → kind → defaults.
type settings struct {
	kind      Kind
	kindPos   Pos
	mtu       int
	ospf      *OSPF
	ospfSet   bool
	ospfPos   Pos
	routes    []rawRoute
	routesSet bool
}

type rawRoute struct {
	to, via, dev string
	pos, viaPos  Pos
}

// addressing is the automatic address pool.
type addressing struct {
	v4, v6            netip.Prefix
	bits4, bits6      int
	pos, v4Pos, v6Pos Pos
}

// decoder reads the YAML tree; p collects the problems of the checks
// that run after it.
type decoder struct {
	*yamldoc.Decoder
	p problems
}

// fields walks a mapping, calling fn for each known key in the order they
// are written; unknown and repeated keys are reported.
func (d *decoder) fields(n *yamldoc.Node, what string, known []string, fn func(key string, v *yamldoc.Node)) {
	f, _ := d.Mapping(n, what, known...)
	for _, e := range f.Entries {
		fn(e.Key, e.Value)
	}
}

// str decodes a value written as text or as a number ("area: 0").
func (d *decoder) str(n *yamldoc.Node, what string) string {
	s, _ := d.Text(n, what)
	return s
}

func (d *decoder) int(n *yamldoc.Node, what string, lo, hi int) int {
	v, _ := d.IntIn(n, what, int64(lo), int64(hi))
	return int(v)
}

func (d *decoder) document(n *yamldoc.Node, raw *rawTopo) {
	known := []string{"name", "defaults", "kinds", "addressing", "nodes", "links"}
	d.fields(n, "the topology", known, func(key string, v *yamldoc.Node) {
		switch key {
		case "name":
			raw.name, raw.namePos = d.str(v, "name"), d.Pos(v)
		case "defaults":
			d.settings(v, "defaults", &raw.defaults, true)
		case "kinds":
			d.fields(v, "kinds", []string{"host", "router", "switch"}, func(k string, sv *yamldoc.Node) {
				s := &settings{}
				d.settings(sv, "kinds."+k, s, false)
				raw.kinds[Kind(k)] = s
			})
		case "addressing":
			d.addressing(v, &raw.addressing)
		case "nodes":
			d.nodes(v, raw)
		case "links":
			for _, ln := range d.List(v, "links") {
				if l := d.link(ln); l != nil {
					raw.links = append(raw.links, l)
				}
			}
		}
	})
}

func (d *decoder) nodes(n *yamldoc.Node, raw *rawTopo) {
	if n.Kind != yamldoc.Mapping {
		d.Fail(n, "", "nodes must be a mapping of node name to its settings (h1: {kind: host})")
		return
	}
	entries, _ := d.Entries(n, "nodes")
	for _, e := range entries {
		rn := &rawNode{name: e.Key, pos: d.Pos(e.KeyNode)}
		d.settings(e.Value, "node "+e.Key, &rn.set, true)
		raw.nodes = append(raw.nodes, rn)
	}
}

func (d *decoder) settings(n *yamldoc.Node, what string, s *settings, withKind bool) {
	known := []string{"mtu", "ospf", "routes"}
	if withKind {
		known = append([]string{"kind"}, known...)
	}
	d.fields(n, what, known, func(key string, v *yamldoc.Node) {
		switch key {
		case "kind":
			k := Kind(d.str(v, "kind"))
			if k != KindHost && k != KindRouter && k != KindSwitch && k != "" {
				d.Fail(v, "", "unknown kind %q: use host, router or switch", k)
			}
			s.kind, s.kindPos = k, d.Pos(v)
		case "mtu":
			s.mtu = d.int(v, "mtu", 68, 65535)
		case "ospf":
			s.ospf, s.ospfSet, s.ospfPos = d.ospf(v), true, d.Pos(v)
		case "routes":
			s.routesSet = true
			for _, rn := range d.List(v, "routes") {
				s.routes = append(s.routes, d.route(rn))
			}
		}
	})
}

// ospf decodes `ospf: true|false` or a mapping of settings.
func (d *decoder) ospf(n *yamldoc.Node) *OSPF {
	o := &OSPF{Area: "0", Hello: 1, Dead: 4}
	if n.Kind == yamldoc.Scalar && n.Tag == yamldoc.TagBool {
		if b, _ := strconv.ParseBool(n.Value); !b {
			return nil
		}
		return o
	}
	d.fields(n, "ospf", []string{"area", "hello", "dead"}, func(key string, v *yamldoc.Node) {
		switch key {
		case "area":
			o.Area = d.str(v, "area")
			if _, err := strconv.ParseUint(o.Area, 10, 32); err != nil {
				if _, err := netip.ParseAddr(o.Area); err != nil {
					d.Fail(v, "", "ospf area %q must be a number or a dotted quad", o.Area)
				}
			}
		case "hello":
			o.Hello = d.int(v, "ospf hello", 1, 65535)
		case "dead":
			o.Dead = d.int(v, "ospf dead", 1, 65535)
		}
	})
	if o.Hello > 0 && o.Dead > 0 && o.Dead <= o.Hello {
		d.Fail(n, "", "ospf dead interval (%d s) must be longer than hello (%d s)", o.Dead, o.Hello)
	}
	return o
}

func (d *decoder) route(n *yamldoc.Node) rawRoute {
	r := rawRoute{pos: d.Pos(n)}
	d.fields(n, "route", []string{"to", "via", "dev"}, func(key string, v *yamldoc.Node) {
		switch key {
		case "to":
			r.to = d.str(v, "to")
		case "via":
			r.via, r.viaPos = d.str(v, "via"), d.Pos(v)
		case "dev":
			r.dev = d.str(v, "dev")
		}
	})
	if r.to == "" {
		d.Fail(n, "", "route needs to: (a prefix such as 198.18.2.0/24, or default)")
	}
	if r.via == "" && r.dev == "" {
		d.Fail(n, "", "route needs via: (a gateway address, or auto) or dev:")
	}
	return r
}

func (d *decoder) addressing(n *yamldoc.Node, a *addressing) {
	a.pos = d.Pos(n)
	if n.Kind == yamldoc.Scalar && n.Value == "auto" {
		a.v4, a.v6 = pool4, pool6
		a.bits4, a.bits6 = 24, 64
		return
	}
	a.bits4, a.bits6 = 24, 64
	d.fields(n, "addressing", []string{"ipv4", "ipv6", "prefix4", "prefix6"}, func(key string, v *yamldoc.Node) {
		switch key {
		case "ipv4", "ipv6":
			p, err := netip.ParsePrefix(d.str(v, key))
			if err != nil {
				d.Fail(v, "", "addressing %s: %v", key, err)
				return
			}
			if key == "ipv4" {
				a.v4, a.v4Pos = p.Masked(), d.Pos(v)
			} else {
				a.v6, a.v6Pos = p.Masked(), d.Pos(v)
			}
		case "prefix4":
			a.bits4 = d.int(v, "prefix4", 8, 30)
		case "prefix6":
			a.bits6 = d.int(v, "prefix6", 48, 126)
		}
	})
}

func (d *decoder) link(n *yamldoc.Node) *Link {
	l := &Link{Pos: d.Pos(n)}
	if n.Kind == yamldoc.Sequence { // shorthand: - [h1, sw1]
		d.endpoints(n, l)
		return l
	}
	known := []string{"endpoints", "mtu", "rate", "delay", "loss", "subnets"}
	d.fields(n, "link", known, func(key string, v *yamldoc.Node) {
		switch key {
		case "endpoints":
			d.endpoints(v, l)
		case "mtu":
			l.MTU = d.int(v, "mtu", 68, 65535)
		case "rate":
			r, err := parseRate(d.str(v, "rate"))
			if err != nil {
				d.FailErr(v, err)
			}
			l.Rate = r
		case "delay":
			dl, err := units.ParseDuration(d.str(v, "delay"))
			if err != nil {
				d.FailErr(v, err)
			}
			l.Delay = dl
		case "loss":
			ls, err := units.ParsePercent(d.str(v, "loss"))
			if err != nil {
				d.FailErr(v, err)
			}
			l.Loss = ls
		case "subnets":
			for _, sn := range d.List(v, "subnets") {
				p, err := netip.ParsePrefix(d.str(sn, "subnet"))
				if err != nil {
					d.Fail(sn, "", "subnet: %v", err)
					continue
				}
				l.Subnets = append(l.Subnets, p.Masked())
			}
		}
	})
	if l.Endpoints[0] == nil && len(d.Errs) == 0 {
		d.Fail(n, "", "link needs endpoints: [node, node] (or node:iface)")
	}
	return l
}

func (d *decoder) endpoints(n *yamldoc.Node, l *Link) {
	items := d.List(n, "endpoints")
	if n.Kind == yamldoc.Sequence && len(items) != 2 {
		d.Fail(n, "", "a link has exactly two endpoints, found %d: use a switch to join more nodes", len(items))
		return
	}
	for i, en := range items {
		l.Endpoints[i] = d.endpoint(en)
	}
}

// endpoint decodes "node", "node:iface" or a mapping.
func (d *decoder) endpoint(n *yamldoc.Node) *Endpoint {
	ep := &Endpoint{Pos: d.Pos(n)}
	if n.Kind == yamldoc.Scalar {
		ep.Node, ep.Iface, _ = strings.Cut(n.Value, ":")
		return ep
	}
	known := []string{"node", "iface", "addresses", "mac", "mtu"}
	d.fields(n, "endpoint", known, func(key string, v *yamldoc.Node) {
		switch key {
		case "node":
			ep.Node = d.str(v, "node")
		case "iface":
			ep.Iface = d.str(v, "iface")
		case "mac":
			ep.MAC = d.str(v, "mac")
		case "mtu":
			ep.MTU = d.int(v, "mtu", 68, 65535)
		case "addresses":
			for _, an := range d.List(v, "addresses") {
				p, err := netip.ParsePrefix(d.str(an, "address"))
				if err != nil {
					d.Fail(an, "", "address: %v (write it as 198.18.1.10/24 or fd00:1::10/64)", err)
					continue
				}
				ep.Addrs = append(ep.Addrs, p)
			}
		}
	})
	if ep.Node == "" {
		d.Fail(n, "", "endpoint needs node:")
	}
	return ep
}

// linkRateHint leaves out percentages: a link has no parent rate.
const linkRateHint = "write a number with a unit: kbit, mbit, gbit (bits/s) or kbps, mbps (bytes/s), like 100mbit"

// parseRate reads a tc rate into bits/s: 100mbit, 4.1mbit, 10mbps
// (bytes/s), 8000bit.
func parseRate(s string) (uint64, error) {
	bits, _, isPct, err := units.ParseRate(s)
	switch {
	case err != nil:
		if ue, ok := err.(*units.Error); ok {
			ue.Hint = linkRateHint
		}
		return 0, err
	case isPct:
		return 0, &units.Error{Msg: fmt.Sprintf("rate %q is a percentage, but a link has no parent rate", s), Hint: linkRateHint}
	case bits < 8000:
		return 0, fmt.Errorf("rate %q is below 8kbit", s)
	}
	return bits, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
