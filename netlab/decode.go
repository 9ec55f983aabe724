package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads and parses a topology file.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput("read topology: %v", err)
	}
	return Parse(path, data)
}

// Parse decodes, resolves and validates a topology. file names the source in
// error positions, and gives the lab its default name (the file's base name
// without extension) when the file has no `name:`. Every problem is
// reported at once, as a *TopologyError.
func Parse(file string, data []byte) (*Topology, error) {
	d := &decoder{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.p.add(yamlErrPos(file, err), "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, d.p.err()
	}
	raw := &rawTopo{kinds: map[Kind]*settings{}}
	if len(doc.Content) == 0 {
		d.p.add(Pos{File: file, Line: 1, Col: 1}, "empty topology: give at least nodes: and links:")
		return nil, d.p.err()
	}
	d.document(doc.Content[0], raw)
	if raw.name == "" && file != "" {
		base := filepath.Base(file)
		raw.name = strings.TrimSuffix(base, filepath.Ext(base))
		raw.namePos = Pos{File: file}
	}
	// Resolve even after decoding problems: the structural checks add
	// theirs, so that one run lists every problem.
	t := resolve(raw, &d.p)
	if !d.p.empty() {
		return nil, d.p.err()
	}
	return t, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrPos(file string, err error) Pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{File: file, Line: n, Col: 1}
	}
	return Pos{File: file, Line: 1, Col: 1}
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

type decoder struct {
	file string
	p    problems
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errf(n *yaml.Node, format string, args ...any) {
	d.p.add(d.pos(n), format, args...)
}

// fields walks a mapping, calling fn for each key; unknown keys are
// reported with the list of known ones.
func (d *decoder) fields(n *yaml.Node, what string, known []string, fn func(key string, v *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s must be a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case seen[k.Value]:
			d.errf(k, "duplicate field %q in %s", k.Value, what)
		case !contains(known, k.Value):
			d.errf(k, "unknown field %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		default:
			seen[k.Value] = true
			fn(k.Value, v)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errf(n, "%s must be a string", what)
		return ""
	}
	return n.Value
}

func (d *decoder) int(n *yaml.Node, what string, lo, hi int) int {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		d.errf(n, "%s must be a whole number", what)
		return 0
	}
	if v < lo || v > hi {
		d.errf(n, "%s %d is out of range %d..%d", what, v, lo, hi)
		return 0
	}
	return v
}

func (d *decoder) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s must be a list", what)
		return nil
	}
	return n.Content
}

func (d *decoder) document(n *yaml.Node, raw *rawTopo) {
	known := []string{"name", "defaults", "kinds", "addressing", "nodes", "links"}
	d.fields(n, "the topology", known, func(key string, v *yaml.Node) {
		switch key {
		case "name":
			raw.name, raw.namePos = d.str(v, "name"), d.pos(v)
		case "defaults":
			d.settings(v, "defaults", &raw.defaults, true)
		case "kinds":
			d.fields(v, "kinds", []string{"host", "router", "switch"}, func(k string, sv *yaml.Node) {
				s := &settings{}
				d.settings(sv, "kinds."+k, s, false)
				raw.kinds[Kind(k)] = s
			})
		case "addressing":
			d.addressing(v, &raw.addressing)
		case "nodes":
			d.nodes(v, raw)
		case "links":
			for _, ln := range d.list(v, "links") {
				if l := d.link(ln); l != nil {
					raw.links = append(raw.links, l)
				}
			}
		}
	})
}

func (d *decoder) nodes(n *yaml.Node, raw *rawTopo) {
	if n.Kind != yaml.MappingNode {
		d.errf(n, "nodes must be a mapping of node name to its settings (h1: {kind: host})")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.errf(k, "duplicate node %q", k.Value)
			continue
		}
		seen[k.Value] = true
		rn := &rawNode{name: k.Value, pos: d.pos(k)}
		d.settings(v, "node "+k.Value, &rn.set, true)
		raw.nodes = append(raw.nodes, rn)
	}
}

func (d *decoder) settings(n *yaml.Node, what string, s *settings, withKind bool) {
	known := []string{"mtu", "ospf", "routes"}
	if withKind {
		known = append([]string{"kind"}, known...)
	}
	d.fields(n, what, known, func(key string, v *yaml.Node) {
		switch key {
		case "kind":
			k := Kind(d.str(v, "kind"))
			if k != KindHost && k != KindRouter && k != KindSwitch && k != "" {
				d.errf(v, "unknown kind %q: use host, router or switch", k)
			}
			s.kind, s.kindPos = k, d.pos(v)
		case "mtu":
			s.mtu = d.int(v, "mtu", 68, 65535)
		case "ospf":
			s.ospf, s.ospfSet, s.ospfPos = d.ospf(v), true, d.pos(v)
		case "routes":
			s.routesSet = true
			for _, rn := range d.list(v, "routes") {
				s.routes = append(s.routes, d.route(rn))
			}
		}
	})
}

// ospf decodes `ospf: true|false` or a mapping of settings.
func (d *decoder) ospf(n *yaml.Node) *OSPF {
	o := &OSPF{Area: "0", Hello: 1, Dead: 4}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		if b, _ := strconv.ParseBool(n.Value); !b {
			return nil
		}
		return o
	}
	d.fields(n, "ospf", []string{"area", "hello", "dead"}, func(key string, v *yaml.Node) {
		switch key {
		case "area":
			o.Area = d.str(v, "area")
			if _, err := strconv.ParseUint(o.Area, 10, 32); err != nil {
				if _, err := netip.ParseAddr(o.Area); err != nil {
					d.errf(v, "ospf area %q must be a number or a dotted quad", o.Area)
				}
			}
		case "hello":
			o.Hello = d.int(v, "ospf hello", 1, 65535)
		case "dead":
			o.Dead = d.int(v, "ospf dead", 1, 65535)
		}
	})
	if o.Hello > 0 && o.Dead > 0 && o.Dead <= o.Hello {
		d.errf(n, "ospf dead interval (%d s) must be longer than hello (%d s)", o.Dead, o.Hello)
	}
	return o
}

func (d *decoder) route(n *yaml.Node) rawRoute {
	r := rawRoute{pos: d.pos(n)}
	d.fields(n, "route", []string{"to", "via", "dev"}, func(key string, v *yaml.Node) {
		switch key {
		case "to":
			r.to = d.str(v, "to")
		case "via":
			r.via, r.viaPos = d.str(v, "via"), d.pos(v)
		case "dev":
			r.dev = d.str(v, "dev")
		}
	})
	if r.to == "" {
		d.errf(n, "route needs to: (a prefix such as 198.18.2.0/24, or default)")
	}
	if r.via == "" && r.dev == "" {
		d.errf(n, "route needs via: (a gateway address, or auto) or dev:")
	}
	return r
}

func (d *decoder) addressing(n *yaml.Node, a *addressing) {
	a.pos = d.pos(n)
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		a.v4, a.v6 = pool4, pool6
		a.bits4, a.bits6 = 24, 64
		return
	}
	a.bits4, a.bits6 = 24, 64
	d.fields(n, "addressing", []string{"ipv4", "ipv6", "prefix4", "prefix6"}, func(key string, v *yaml.Node) {
		switch key {
		case "ipv4", "ipv6":
			p, err := netip.ParsePrefix(d.str(v, key))
			if err != nil {
				d.errf(v, "addressing %s: %v", key, err)
				return
			}
			if key == "ipv4" {
				a.v4, a.v4Pos = p.Masked(), d.pos(v)
			} else {
				a.v6, a.v6Pos = p.Masked(), d.pos(v)
			}
		case "prefix4":
			a.bits4 = d.int(v, "prefix4", 8, 30)
		case "prefix6":
			a.bits6 = d.int(v, "prefix6", 48, 126)
		}
	})
}

func (d *decoder) link(n *yaml.Node) *Link {
	l := &Link{Pos: d.pos(n)}
	if n.Kind == yaml.SequenceNode { // shorthand: - [h1, sw1]
		d.endpoints(n, l)
		return l
	}
	known := []string{"endpoints", "mtu", "rate", "delay", "loss", "subnets"}
	d.fields(n, "link", known, func(key string, v *yaml.Node) {
		switch key {
		case "endpoints":
			d.endpoints(v, l)
		case "mtu":
			l.MTU = d.int(v, "mtu", 68, 65535)
		case "rate":
			r, err := parseRate(d.str(v, "rate"))
			if err != nil {
				d.errf(v, "%v", err)
			}
			l.Rate = r
		case "delay":
			dl, err := parseDelay(d.str(v, "delay"))
			if err != nil {
				d.errf(v, "%v", err)
			}
			l.Delay = dl
		case "loss":
			ls, err := parseLoss(d.str(v, "loss"))
			if err != nil {
				d.errf(v, "%v", err)
			}
			l.Loss = ls
		case "subnets":
			for _, sn := range d.list(v, "subnets") {
				p, err := netip.ParsePrefix(d.str(sn, "subnet"))
				if err != nil {
					d.errf(sn, "subnet: %v", err)
					continue
				}
				l.Subnets = append(l.Subnets, p.Masked())
			}
		}
	})
	if l.Endpoints[0] == nil && d.p.empty() {
		d.errf(n, "link needs endpoints: [node, node] (or node:iface)")
	}
	return l
}

func (d *decoder) endpoints(n *yaml.Node, l *Link) {
	items := d.list(n, "endpoints")
	if n.Kind == yaml.SequenceNode && len(items) != 2 {
		d.errf(n, "a link has exactly two endpoints, found %d: use a switch to join more nodes", len(items))
		return
	}
	for i, en := range items {
		l.Endpoints[i] = d.endpoint(en)
	}
}

// endpoint decodes "node", "node:iface" or a mapping.
func (d *decoder) endpoint(n *yaml.Node) *Endpoint {
	ep := &Endpoint{Pos: d.pos(n)}
	if n.Kind == yaml.ScalarNode {
		ep.Node, ep.Iface, _ = strings.Cut(n.Value, ":")
		return ep
	}
	known := []string{"node", "iface", "addresses", "mac", "mtu"}
	d.fields(n, "endpoint", known, func(key string, v *yaml.Node) {
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
			for _, an := range d.list(v, "addresses") {
				p, err := netip.ParsePrefix(d.str(an, "address"))
				if err != nil {
					d.errf(an, "address: %v (write it as 198.18.1.10/24 or fd00:1::10/64)", err)
					continue
				}
				ep.Addrs = append(ep.Addrs, p)
			}
		}
	})
	if ep.Node == "" {
		d.errf(n, "endpoint needs node:")
	}
	return ep
}

// parseRate reads a tc-style rate into bits/s: 100mbit, 1gbit, 500kbit,
// 10mbps (bytes/s), 8000bit.
func parseRate(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
		{"tbps", 8e12}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
	}
	ls := strings.ToLower(strings.TrimSpace(s))
	for _, u := range units {
		if num, ok := strings.CutSuffix(ls, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			bits := v * u.mult
			if bits < 8000 {
				return 0, fmt.Errorf("rate %q is below 8kbit", s)
			}
			return uint64(bits), nil
		}
	}
	return 0, fmt.Errorf("rate %q: write a number with a unit: kbit, mbit, gbit (bits/s) or kbps, mbps (bytes/s), e.g. 100mbit", s)
}

func parseDelay(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("delay %q: write a duration such as 20ms", s)
	}
	return v, nil
}

func parseLoss(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("loss %q: write a percentage such as 1%%", s)
	}
	return v, nil
}
