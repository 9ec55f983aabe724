package netlab

import (
	"net/netip"
	"sort"
	"strconv"
)

// The automatic address pools: benchmarking addresses (RFC 2544) and unique
// local IPv6, never routed on the internet and never the host's own.
var (
	pool4 = netip.MustParsePrefix("198.18.0.0/15")
	pool6 = netip.MustParsePrefix("fd00::/8")
)

// segment is one L2 broadcast domain: a point-to-point link, or a switch
// (with switches linked to it) and every interface plugged into it.
type segment struct {
	links    []*Link
	members  []*Endpoint // interfaces of hosts and routers; switch ports excluded
	switches []string
	subnet   [2]netip.Prefix // [0] IPv4, [1] IPv6
	origin   [2]Pos          // where the subnet came from
}

func famIdx(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// segments groups links into L2 segments. Switches joined in a loop are an
// error: a bridge here runs no spanning tree, a loop would flood forever.
func segments(t *Topology, p *problems) []*segment {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] == "" || parent[x] == x {
			parent[x] = x
			return x
		}
		parent[x] = find(parent[x])
		return parent[x]
	}
	union := func(a, b string) { parent[find(a)] = find(b) }
	isSwitch := func(name string) bool { return t.Node(name).Kind == KindSwitch }

	swParent := map[string]string{} // switches joined by switch-switch links only
	var swFind func(string) string
	swFind = func(x string) string {
		if swParent[x] == "" || swParent[x] == x {
			swParent[x] = x
			return x
		}
		swParent[x] = swFind(swParent[x])
		return swParent[x]
	}
	linkKey := func(i int) string { return "link\x00" + strconv.Itoa(i) }
	for i, l := range t.Links {
		a, b := l.Endpoints[0].Node, l.Endpoints[1].Node
		if isSwitch(a) && isSwitch(b) {
			if swFind(a) == swFind(b) {
				p.add(l.Pos, "link %s-%s closes a loop of switches: bridges here run no spanning tree, remove a link", a, b)
				continue
			}
			swParent[swFind(a)] = swFind(b)
		}
		for _, ep := range l.Endpoints {
			if isSwitch(ep.Node) {
				union(linkKey(i), "sw\x00"+ep.Node)
			}
		}
		find(linkKey(i))
	}
	byRoot := map[string]*segment{}
	var segs []*segment
	for i, l := range t.Links {
		r := find(linkKey(i))
		s := byRoot[r]
		if s == nil {
			s = &segment{}
			byRoot[r] = s
			segs = append(segs, s)
		}
		s.links = append(s.links, l)
		for _, ep := range l.Endpoints {
			if isSwitch(ep.Node) {
				if !contains(s.switches, ep.Node) {
					s.switches = append(s.switches, ep.Node)
				}
				continue
			}
			s.members = append(s.members, ep)
		}
	}
	return segs
}

// resolvedSegments recomputes the segments of a resolved topology, with
// their subnets, for the steps that run after Parse.
func resolvedSegments(t *Topology) []*segment {
	p := &problems{}
	segs := segments(t, p)
	for _, s := range segs {
		subnetsOf(t, s, p)
	}
	return segs
}

// segmentOf returns the segment an interface is in.
func segmentOf(segs []*segment, ep *Endpoint) *segment {
	for _, s := range segs {
		for _, m := range s.members {
			if m == ep {
				return s
			}
		}
	}
	return nil
}

// assignAddresses checks the addresses the file gives and fills in the
// missing ones: each segment gets one subnet per family (from the link's
// subnets:, from the first address given, or the next free one of the
// pool), and its interfaces the lowest free addresses, routers first so
// that gateways get .1.
func assignAddresses(t *Topology, segs []*segment, a *addressing, p *problems) {
	used := map[netip.Addr]Pos{}
	for _, s := range segs {
		subnetsOf(t, s, p)
		for _, ep := range s.members {
			for _, pr := range ep.Addrs {
				if prev, dup := used[pr.Addr()]; dup {
					p.add(ep.Pos, "duplicate address %s on %s:%s, already used at %s", pr.Addr(), ep.Node, ep.Iface, prev)
				}
				used[pr.Addr()] = ep.Pos
			}
		}
	}
	checkOverlaps(segs, p)
	if !p.empty() {
		return
	}
	pools := [2]netip.Prefix{a.v4, a.v6}
	bits := [2]int{a.bits4, a.bits6}
	var taken []netip.Prefix
	for _, s := range segs {
		for f := range 2 {
			if s.subnet[f].IsValid() {
				taken = append(taken, s.subnet[f])
			}
		}
	}
	for _, s := range segs {
		for f := range 2 {
			fromLink := linkGaveSubnet(s, f)
			if !s.subnet[f].IsValid() && pools[f].IsValid() && len(s.members) > 0 {
				next, ok := nextFree(pools[f], bits[f], taken)
				if !ok {
					p.add(a.pos, "address pool %s has no free /%d left: use a larger pool", pools[f], bits[f])
					return
				}
				s.subnet[f], s.origin[f] = next, a.pos
				taken = append(taken, next)
			}
			if s.subnet[f].IsValid() && (pools[f].IsValid() || fromLink) {
				fillHosts(t, s, f, used, p)
			}
		}
	}
}

func linkGaveSubnet(s *segment, f int) bool {
	for _, l := range s.links {
		for _, sn := range l.Subnets {
			if famIdx(sn.Addr()) == f {
				return true
			}
		}
	}
	return false
}

func checkPools(a *addressing, p *problems) {
	if a.v4.IsValid() && (!a.v4.Addr().Is4() || !pool4.Contains(a.v4.Addr()) || a.v4.Bits() < pool4.Bits() || a.v4.Bits() > a.bits4) {
		p.add(a.v4Pos, "ipv4 pool %s must lie inside %s and be at least a /%d", a.v4, pool4, a.bits4)
	}
	if a.v6.IsValid() && (!a.v6.Addr().Is6() || !pool6.Contains(a.v6.Addr()) || a.v6.Bits() < pool6.Bits() || a.v6.Bits() > a.bits6) {
		p.add(a.v6Pos, "ipv6 pool %s must lie inside %s and be at least a /%d", a.v6, pool6, a.bits6)
	}
}

// subnetsOf sets the segment's subnets from its links' subnets: or its first
// address of each family, and checks every address against them.
func subnetsOf(t *Topology, s *segment, p *problems) {
	for _, l := range s.links {
		for _, sn := range l.Subnets {
			f := famIdx(sn.Addr())
			if s.subnet[f].IsValid() && s.subnet[f] != sn {
				p.add(l.Pos, "subnet %s differs from %s given at %s for the same segment", sn, s.subnet[f], s.origin[f])
				continue
			}
			s.subnet[f], s.origin[f] = sn, l.Pos
		}
	}
	for _, ep := range s.members {
		for _, pr := range ep.Addrs {
			f := famIdx(pr.Addr())
			if !s.subnet[f].IsValid() {
				s.subnet[f], s.origin[f] = pr.Masked(), ep.Pos
				continue
			}
			if pr.Bits() != s.subnet[f].Bits() || !s.subnet[f].Contains(pr.Addr()) {
				p.add(ep.Pos, "address %s of %s:%s is not in the link's subnet %s (set at %s)", pr, ep.Node, ep.Iface, s.subnet[f], s.origin[f])
			}
		}
	}
	for _, ep := range s.members {
		for _, pr := range ep.Addrs {
			if pr.Addr().Is4() && pr.Bits() < 31 && (pr.Addr() == pr.Masked().Addr() || pr.Addr() == lastAddr(pr)) {
				p.add(ep.Pos, "address %s of %s:%s is the network or broadcast address of its subnet", pr, ep.Node, ep.Iface)
			}
		}
	}
}

func checkOverlaps(segs []*segment, p *problems) {
	for i, a := range segs {
		for _, b := range segs[i+1:] {
			for f := range 2 {
				x, y := a.subnet[f], b.subnet[f]
				if x.IsValid() && y.IsValid() && x.Overlaps(y) {
					p.add(b.origin[f], "subnet %s overlaps %s of another link (set at %s): give each link or LAN its own subnet", y, x, a.origin[f])
				}
			}
		}
	}
}

// fillHosts gives every member without an address of family f the lowest
// free address of the segment's subnet, routers first.
func fillHosts(t *Topology, s *segment, f int, used map[netip.Addr]Pos, p *problems) {
	members := append([]*Endpoint(nil), s.members...)
	sort.SliceStable(members, func(i, j int) bool {
		return t.Node(members[i].Node).Kind == KindRouter && t.Node(members[j].Node).Kind != KindRouter
	})
	sn := s.subnet[f]
	cand := sn.Addr().Next()
	for _, ep := range members {
		if hasFamily(ep, f) {
			continue
		}
		for sn.Contains(cand) {
			if _, u := used[cand]; !u && !(f == 0 && cand == lastAddr(sn)) {
				break
			}
			cand = cand.Next()
		}
		if !sn.Contains(cand) || (f == 0 && cand == lastAddr(sn)) {
			p.add(s.origin[f], "subnet %s has no free address left for %s:%s: use a larger subnet", sn, ep.Node, ep.Iface)
			return
		}
		ep.Addrs = append(ep.Addrs, netip.PrefixFrom(cand, sn.Bits()))
		used[cand] = ep.Pos
		cand = cand.Next()
	}
}

func hasFamily(ep *Endpoint, f int) bool {
	for _, pr := range ep.Addrs {
		if famIdx(pr.Addr()) == f {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of a prefix (the IPv4 broadcast).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// nextFree returns the first /bits subnet of pool that overlaps nothing in
// taken.
func nextFree(pool netip.Prefix, bits int, taken []netip.Prefix) (netip.Prefix, bool) {
	cand := netip.PrefixFrom(pool.Addr(), bits)
	for pool.Contains(cand.Addr()) {
		clash := false
		for _, t := range taken {
			if t.Overlaps(cand) {
				clash = true
				break
			}
		}
		if !clash {
			return cand, true
		}
		next := lastAddr(cand).Next()
		if !next.IsValid() {
			break
		}
		cand = netip.PrefixFrom(next, bits)
	}
	return netip.Prefix{}, false
}
