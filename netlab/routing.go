package netlab

import (
	"net/netip"
	"strings"
)

var (
	default4 = netip.MustParsePrefix("0.0.0.0/0")
	default6 = netip.MustParsePrefix("::/0")
)

// resolveRoutes turns the routes as written into kernel routes: `to:
// default` becomes 0.0.0.0/0 and/or ::/0, `via: auto` the address of the
// only router next to the node, and every gateway must be a neighbour.
func resolveRoutes(t *Topology, segs []*segment, p *problems) {
	owners := addrOwners(t)
	for _, n := range t.Nodes {
		for _, rr := range n.rawRoutes {
			for _, r := range resolveRoute(t, segs, n, rr, p) {
				if r.Via.IsValid() {
					checkGateway(t, segs, n, r, owners, p)
				}
				n.Routes = append(n.Routes, r)
			}
		}
		addDefault6(t, segs, n, owners)
	}
}

// addDefault6 gives a node an IPv6 default route through the router of its
// IPv4 default route, when it has none of its own and both share an IPv6
// subnet: every address a lab hands out must be reachable, not only the
// IPv4 ones.
func addDefault6(t *Topology, segs []*segment, n *Node, owners map[netip.Addr]owner) {
	var v4 Route
	for _, r := range n.Routes {
		switch {
		case r.Dst == default6:
			return
		case r.Dst == default4 && r.Via.IsValid():
			v4 = r
		}
	}
	o, ok := owners[v4.Via]
	if !v4.Via.IsValid() || !ok || t.Node(o.node).Kind != KindRouter {
		return
	}
	s := segmentOf(segs, o.ep)
	if s == nil || !s.subnet[1].IsValid() {
		return
	}
	var gw netip.Addr
	for _, a := range o.ep.Addrs {
		if a.Addr().Is6() {
			gw = a.Addr()
			break
		}
	}
	for _, ep := range t.Interfaces(n.Name) {
		if gw.IsValid() && segmentOf(segs, ep) == s && hasFamily(ep, 1) {
			n.Routes = append(n.Routes, Route{Dst: default6, Via: gw, Dev: v4.Dev, Pos: v4.Pos})
			return
		}
	}
}

func resolveRoute(t *Topology, segs []*segment, n *Node, rr rawRoute, p *problems) []Route {
	var dsts []netip.Prefix
	if rr.to == "default" {
		dsts = []netip.Prefix{default4, default6}
	} else {
		pr, err := netip.ParsePrefix(rr.to)
		if err != nil {
			p.add(rr.pos, "route to %q: write a prefix such as 198.18.2.0/24, or default", rr.to)
			return nil
		}
		if pr != pr.Masked() {
			p.add(rr.pos, "route to %s has host bits set: did you mean %s?", pr, pr.Masked())
			return nil
		}
		dsts = []netip.Prefix{pr}
	}
	if rr.dev != "" && !hasIface(t, n.Name, rr.dev) {
		p.add(rr.pos, "route dev %s: %s has no such interface", rr.dev, n.Name)
		return nil
	}
	var out []Route
	switch rr.via {
	case "":
		for _, d := range dsts {
			out = append(out, Route{Dst: d, Dev: rr.dev, Pos: rr.pos})
		}
		if rr.to == "default" {
			out = out[:1] // a device route needs a family: default means IPv4 here
		}
	case "auto":
		gws := autoGateways(t, segs, n, rr, p)
		for _, d := range dsts {
			if gw := gws[famIdx(d.Addr())]; gw.IsValid() {
				out = append(out, Route{Dst: d, Via: gw, Dev: rr.dev, Pos: rr.pos})
			} else if rr.to != "default" {
				p.add(rr.viaPos, "via auto: the router next to %s has no address of %s's family", n.Name, d)
			}
		}
	default:
		gw, err := netip.ParseAddr(rr.via)
		if err != nil {
			p.add(rr.viaPos, "via %q: write a gateway address, or auto", rr.via)
			return nil
		}
		for _, d := range dsts {
			if d.Addr().Is4() == gw.Is4() {
				out = append(out, Route{Dst: d, Via: gw, Dev: rr.dev, Pos: rr.pos})
			}
		}
		if len(out) == 0 {
			p.add(rr.viaPos, "via %s is not of the same family as %s", gw, rr.to)
		}
	}
	return out
}

func hasIface(t *Topology, node, iface string) bool {
	for _, ep := range t.Interfaces(node) {
		if ep.Iface == iface {
			return true
		}
	}
	return false
}

// autoGateways finds the one router sharing a segment with n and returns its
// addresses there, per family.
func autoGateways(t *Topology, segs []*segment, n *Node, rr rawRoute, p *problems) [2]netip.Addr {
	var gws [2]netip.Addr
	var routers []string
	for _, ep := range t.Interfaces(n.Name) {
		s := segmentOf(segs, ep)
		if s == nil {
			continue
		}
		for _, m := range s.members {
			if m.Node == n.Name || t.Node(m.Node).Kind != KindRouter {
				continue
			}
			if !contains(routers, m.Node) {
				routers = append(routers, m.Node)
			}
			for _, a := range m.Addrs {
				if f := famIdx(a.Addr()); !gws[f].IsValid() {
					gws[f] = a.Addr()
				}
			}
		}
	}
	if len(routers) != 1 {
		found := "none"
		if len(routers) > 1 {
			found = strings.Join(routers, ", ")
		}
		p.add(rr.viaPos, "via auto needs exactly one router next to %s, found %s: give the gateway address", n.Name, found)
		return [2]netip.Addr{}
	}
	return gws
}

type owner struct {
	node string
	ep   *Endpoint
}

func addrOwners(t *Topology) map[netip.Addr]owner {
	m := map[netip.Addr]owner{}
	for _, l := range t.Links {
		for _, ep := range l.Endpoints {
			for _, a := range ep.Addrs {
				m[a.Addr()] = owner{ep.Node, ep}
			}
		}
	}
	return m
}

// connected reports whether addr is on one of n's subnets.
func connected(t *Topology, segs []*segment, node string, addr netip.Addr) bool {
	for _, ep := range t.Interfaces(node) {
		if s := segmentOf(segs, ep); s != nil && s.subnet[famIdx(addr)].Contains(addr) {
			return true
		}
	}
	return false
}

func checkGateway(t *Topology, segs []*segment, n *Node, r Route, owners map[netip.Addr]owner, p *problems) {
	o, known := owners[r.Via]
	switch {
	case !connected(t, segs, n.Name, r.Via):
		p.add(r.Pos, "gateway %s of %s is not on any of its subnets: use a neighbour's address", r.Via, n.Name)
	case known && o.node == n.Name:
		p.add(r.Pos, "gateway %s is %s's own address: use a neighbour's address", r.Via, n.Name)
	case !known:
		p.add(r.Pos, "gateway %s of %s: no node has that address", r.Via, n.Name)
	}
}

// checkRouteLoops follows the static routes hop by hop from every node to
// every address of the lab and reports a packet that would come back to a
// node it has passed. Routers running OSPF end the walk: their routes are
// learned, not written.
func checkRouteLoops(t *Topology, segs []*segment, p *problems) {
	owners := addrOwners(t)
	targets := make([]netip.Addr, 0, len(owners))
	for _, l := range t.Links {
		for _, ep := range l.Endpoints {
			for _, a := range ep.Addrs {
				targets = append(targets, a.Addr())
			}
		}
	}
	for _, n := range t.Nodes {
		for _, r := range n.Routes {
			if r.Dst.Bits() > 0 {
				targets = append(targets, r.Dst.Addr())
			}
		}
	}
	reported := map[string]bool{}
	for _, start := range t.Nodes {
		if start.Kind == KindSwitch {
			continue
		}
		for _, dst := range targets {
			path, via := walk(t, segs, owners, start, dst)
			if path == nil {
				continue
			}
			key := loopKey(path)
			if reported[key] {
				continue
			}
			reported[key] = true
			p.add(via.Pos, "routes loop: packets to %s go %s: fix the static routes", dst, strings.Join(path, " → "))
		}
	}
}

// walk returns the nodes of a loop and the first route in it, or nil.
func walk(t *Topology, segs []*segment, owners map[netip.Addr]owner, n *Node, dst netip.Addr) ([]string, Route) {
	var path []string
	var routes []Route
	for {
		for i, name := range path {
			if name == n.Name {
				return append(path[i:], n.Name), routes[i]
			}
		}
		if o, ok := owners[dst]; (ok && o.node == n.Name) || n.OSPF != nil || connected(t, segs, n.Name, dst) {
			return nil, Route{}
		}
		r, ok := lookup(n.Routes, dst)
		if !ok || !r.Via.IsValid() {
			return nil, Route{}
		}
		next, ok := owners[r.Via]
		if !ok || t.Node(next.node).Kind != KindRouter {
			return nil, Route{} // hosts do not forward
		}
		path, routes = append(path, n.Name), append(routes, r)
		n = t.Node(next.node)
	}
}

// lookup is longest-prefix match over static routes.
func lookup(routes []Route, dst netip.Addr) (Route, bool) {
	best, found := Route{}, false
	for _, r := range routes {
		if r.Dst.Contains(dst) && (!found || r.Dst.Bits() > best.Dst.Bits()) {
			best, found = r, true
		}
	}
	return best, found
}

// loopKey names a loop independently of where the walk entered it.
func loopKey(path []string) string {
	cyc := path[:len(path)-1]
	min := 0
	for i := range cyc {
		if cyc[i] < cyc[min] {
			min = i
		}
	}
	return strings.Join(append(append([]string{}, cyc[min:]...), cyc[:min]...), ",")
}
