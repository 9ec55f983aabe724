package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// wantOSPF6 says whether OSPF routers also run OSPFv3 (FRR's ospf6d): when
// the lab hands out any IPv6 address, so that every address it hands out
// is routed.
func wantOSPF6(t *Topology) bool {
	for _, l := range t.Links {
		for _, ep := range l.Endpoints {
			if hasFamily(ep, 1) { // famIdx: 1 is IPv6
				return true
			}
		}
	}
	return false
}

// ospf6dConfig is the ospf6d.conf of a router, OSPFv2's twin: the same
// timers, point-to-point where two routers meet, passive towards hosts,
// static routes redistributed. OSPFv3 runs on every interface of the
// router: it speaks over link-local addresses, so it carries IPv6 across a
// link that has IPv4 addresses only, and it announces every IPv6 prefix on
// the router's interfaces.
func ospf6dConfig(t *Topology, segs []*segment, n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname %s\n!\n", n.Name)
	for _, oi := range ospfIfaces(t, segs, n) {
		fmt.Fprintf(&b, "interface %s\n ipv6 ospf6 area %s\n ipv6 ospf6 hello-interval %d\n ipv6 ospf6 dead-interval %d\n",
			oi.ep.Iface, n.OSPF.Area, n.OSPF.Hello, n.OSPF.Dead)
		if oi.p2p {
			b.WriteString(" ipv6 ospf6 network point-to-point\n")
		}
		if oi.passive {
			b.WriteString(" ipv6 ospf6 passive\n")
		}
		b.WriteString(" ipv6 ospf6 retransmit-interval 1\n!\n") // as in ospfd.conf
	}
	b.WriteString("router ospf6\n")
	if id := routerID(t, n); id != "" {
		fmt.Fprintf(&b, " ospf6 router-id %s\n", id)
	}
	b.WriteString(" redistribute static\n!\n")
	return b.String()
}

// ospf6Neighbours asks the router's ospf6d through its own vty socket.
func ospf6Neighbours(ctx context.Context, dir string) ([]OSPFNeighbour, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", dir, "-d", "ospf6d", "-c", "show ipv6 ospf6 neighbor json").Output()
	if err != nil {
		return nil, fmt.Errorf("vtysh show ipv6 ospf6 neighbor: %w", err)
	}
	var doc struct {
		Neighbors []struct {
			ID    string `json:"neighborId"`
			State string `json:"state"`
			Iface string `json:"interfaceName"`
		} `json:"neighbors"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("decode ospf6 neighbours: %w", err)
	}
	var nbrs []OSPFNeighbour
	for _, nb := range doc.Neighbors {
		nbrs = append(nbrs, OSPFNeighbour{RouterID: nb.ID, State: nb.State, Iface: nb.Iface})
	}
	return nbrs, nil
}
