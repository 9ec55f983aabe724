package netlab

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
)

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	ifaceRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
)

// ValidLabName reports what is wrong with a lab name, or nil.
func ValidLabName(name string) error {
	if !nameRE.MatchString(name) {
		return badInput("lab name %q: use letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	if len(name) > MaxLabName {
		return badInput("lab name %q is %d bytes long, at most %d fit in the names derived from it", name, len(name), MaxLabName)
	}
	return nil
}

// resolve turns the file as written into a Topology: defaults applied,
// structure checked, interfaces named, addresses assigned, routes resolved.
func resolve(raw *rawTopo, p *problems) *Topology {
	t := &Topology{Name: raw.name, File: raw.namePos.File, namePos: raw.namePos}
	if err := ValidLabName(raw.name); err != nil {
		p.add(raw.namePos, "%v", err)
	}
	if len(raw.nodes) == 0 {
		p.add(raw.namePos, "the topology has no nodes: add a nodes: mapping")
	}
	for _, rn := range raw.nodes {
		t.Nodes = append(t.Nodes, resolveNode(raw, rn, p))
	}
	t.Links = raw.links
	resolveLinks(t, p)
	checkPools(&raw.addressing, p)
	if !p.empty() {
		return t // later steps would only repeat these problems
	}
	segs := segments(t, p)
	if !p.empty() {
		return t
	}
	assignAddresses(t, segs, &raw.addressing, p)
	if !p.empty() {
		return t
	}
	resolveRoutes(t, segs, p)
	if p.empty() {
		checkRouteLoops(t, segs, p)
	}
	return t
}

// resolveNode applies node → kind → defaults precedence.
func resolveNode(raw *rawTopo, rn *rawNode, p *problems) *Node {
	n := &Node{Name: rn.name, Pos: rn.pos}
	if !nameRE.MatchString(rn.name) || len(rn.name) > MaxNodeName {
		p.add(rn.pos, "node name %q: use at most %d letters, digits, '-', '_' or '.', starting with a letter or digit", rn.name, MaxNodeName)
	}
	n.Kind = firstKind(rn.set.kind, raw.defaults.kind, KindHost)
	layers := []*settings{&rn.set}
	if k := raw.kinds[n.Kind]; k != nil {
		layers = append(layers, k)
	}
	layers = append(layers, &raw.defaults)
	n.MTU = DefaultMTU
	for _, s := range layers {
		if s.mtu != 0 {
			n.MTU = s.mtu
			break
		}
	}
	for i, s := range layers {
		if !s.ospfSet {
			continue
		}
		if s.ospf != nil && n.Kind != KindRouter {
			if i == 0 { // only the node's own setting is a mistake; defaults apply to routers only
				p.add(s.ospfPos, "ospf runs on routers only, and %s is a %s: set kind: router or remove ospf", n.Name, n.Kind)
			}
			break
		}
		n.OSPF = s.ospf
		break
	}
	for i, s := range layers {
		if !s.routesSet {
			continue
		}
		if n.Kind == KindSwitch {
			if i == 0 {
				p.add(s.routes[0].pos, "switch %s is a bridge and has no routes: give the routes to its hosts", n.Name)
			}
			break
		}
		n.rawRoutes = s.routes
		break
	}
	return n
}

func firstKind(ks ...Kind) Kind {
	for _, k := range ks {
		if k != "" {
			return k
		}
	}
	return KindHost
}

// resolveLinks checks endpoints and names interfaces: ethN in link order,
// skipping names the file gives explicitly.
func resolveLinks(t *Topology, p *problems) {
	names := map[string]map[string]Pos{} // node → iface → where
	macs := map[string]Pos{}
	ports := map[string]int{}
	for _, l := range t.Links {
		if l.Endpoints[0] == nil || l.Endpoints[1] == nil {
			continue
		}
		for _, ep := range l.Endpoints {
			n := t.Node(ep.Node)
			if n == nil {
				p.add(ep.Pos, "unknown node %q in link: %s", ep.Node, unknownNodeHint(t, ep.Node))
				continue
			}
			if n.Kind == KindSwitch {
				ports[n.Name]++
				if len(ep.Addrs) > 0 {
					p.add(ep.Pos, "switch %s is a bridge and has no addresses: put them on the other end of the link", n.Name)
				}
			}
			if names[ep.Node] == nil {
				names[ep.Node] = map[string]Pos{}
			}
			if ep.Iface != "" {
				checkIface(ep, n, names[ep.Node], p)
			}
			if ep.MAC != "" {
				checkMAC(ep, macs, p)
			}
			if ep.MTU == 0 {
				ep.MTU = l.MTU
			}
			if ep.MTU == 0 {
				ep.MTU = n.MTU
			}
		}
	}
	for _, l := range t.Links {
		for _, ep := range l.Endpoints {
			if ep == nil || ep.Iface != "" || names[ep.Node] == nil {
				continue
			}
			for i := 0; ; i++ {
				name := fmt.Sprintf("eth%d", i)
				if _, used := names[ep.Node][name]; !used {
					ep.Iface = name
					names[ep.Node][name] = ep.Pos
					break
				}
			}
		}
	}
	for _, n := range t.Nodes {
		if n.Kind == KindSwitch && ports[n.Name] < 2 {
			p.add(n.Pos, "switch %s has %d port(s), a LAN needs at least 2: link more nodes to it or use a direct link", n.Name, ports[n.Name])
		}
	}
}

func checkIface(ep *Endpoint, n *Node, used map[string]Pos, p *problems) {
	switch {
	case len(ep.Iface) > MaxIfaceName || !ifaceRE.MatchString(ep.Iface):
		p.add(ep.Pos, "interface name %q: use at most %d letters, digits, '-', '_' or '.'", ep.Iface, MaxIfaceName)
	case ep.Iface == "lo" || (n.Kind == KindSwitch && ep.Iface == bridgeName):
		p.add(ep.Pos, "interface name %q is reserved on %s: choose another", ep.Iface, n.Name)
	default:
		if prev, dup := used[ep.Iface]; dup {
			p.add(ep.Pos, "interface %s:%s is already used at %s", ep.Node, ep.Iface, prev)
			return
		}
		used[ep.Iface] = ep.Pos
	}
}

func checkMAC(ep *Endpoint, seen map[string]Pos, p *problems) {
	hw, err := net.ParseMAC(ep.MAC)
	if err != nil || len(hw) != 6 {
		p.add(ep.Pos, "mac %q: write six bytes such as 02:00:00:00:00:01", ep.MAC)
		return
	}
	if hw[0]&1 == 1 {
		p.add(ep.Pos, "mac %s is a multicast address: the first byte must be even (02:... is a safe local choice)", hw)
		return
	}
	ep.MAC = hw.String()
	if prev, dup := seen[ep.MAC]; dup {
		p.add(ep.Pos, "mac %s is already used at %s", ep.MAC, prev)
		return
	}
	seen[ep.MAC] = ep.Pos
}

func nodeNames(t *Topology) string {
	var names []string
	for _, n := range t.Nodes {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
