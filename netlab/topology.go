// Package netlab builds network labs from a topology file: hosts (a network
// namespace each), switches (a Linux bridge in its own namespace), routers
// (a namespace with forwarding on, optionally running OSPF with FRR), the
// veth links between them, addresses, routes and per-link rate limits.
//
// The pipeline is Parse (YAML → resolved Topology, all errors at once with
// file:line:col, nothing touched) → Up (namespaces, links, routes, FRR) →
// Down. Every name the lab creates carries the lab's name, and what was
// created is recorded under /run/shaper/labs/<lab>/ so that another process
// can tear the lab down or show its status.
package netlab

import (
	"net/netip"
	"time"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Kind is what a node is.
type Kind string

const (
	KindHost   Kind = "host"
	KindRouter Kind = "router"
	KindSwitch Kind = "switch"
)

// Limits on names, so that every derived name fits: netns names are
// "<lab>-<node>", FRR unix sockets live under /run/shaper/labs/<lab>/<node>/
// (a unix socket path is at most 107 bytes), interface names are at most 15.
const (
	MaxLabName   = 32
	MaxNodeName  = 24
	MaxIfaceName = 15
	DefaultMTU   = 1500
)

// Pos is a place in the topology file.
type Pos = yamldoc.Pos

// Topology is a resolved lab description: defaults applied, interface names
// and automatic addresses assigned, routes resolved. It is what Up builds
// and what the lab's state records.
type Topology struct {
	Name  string  `json:"name"`
	File  string  `json:"file,omitempty"`
	Nodes []*Node `json:"nodes"`
	Links []*Link `json:"links"`

	namePos Pos
}

// Node is a host, router or switch.
type Node struct {
	Name   string  `json:"name"`
	Kind   Kind    `json:"kind"`
	MTU    int     `json:"mtu"`
	OSPF   *OSPF   `json:"ospf,omitempty"`
	Routes []Route `json:"routes,omitempty"`

	Pos       Pos        `json:"-"`
	rawRoutes []rawRoute // before resolution (via: auto, to: default)
}

// OSPF configures ospfd on a router. Timers are short by default so that a
// lab converges and re-routes in seconds.
type OSPF struct {
	Area  string `json:"area"`
	Hello int    `json:"hello"`
	Dead  int    `json:"dead"`
}

// Route is a static route of a node.
type Route struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via,omitzero"`
	Dev string       `json:"dev,omitempty"`

	Pos Pos `json:"-"`
}

// Link joins two nodes with a veth pair; when one end is a switch, the other
// node's interface becomes a port of the switch's bridge.
type Link struct {
	Endpoints [2]*Endpoint   `json:"endpoints"`
	MTU       int            `json:"mtu,omitempty"`
	Rate      uint64         `json:"rate_bits,omitempty"` // bits/s, TBF on both ends
	Delay     time.Duration  `json:"delay,omitempty"`     // needs netem
	Loss      float64        `json:"loss,omitempty"`      // percent, needs netem
	Subnets   []netip.Prefix `json:"subnets,omitempty"`   // explicit subnets of the segment

	Pos Pos `json:"-"`
}

// Endpoint is one end of a link: an interface of a node.
type Endpoint struct {
	Node  string         `json:"node"`
	Iface string         `json:"iface"`
	Addrs []netip.Prefix `json:"addresses,omitempty"`
	MAC   string         `json:"mac,omitempty"`
	MTU   int            `json:"mtu"`

	Pos Pos `json:"-"`
}

// Node returns the node with that name, or nil.
func (t *Topology) Node(name string) *Node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Interfaces returns the endpoints that belong to node, in link order.
func (t *Topology) Interfaces(node string) []*Endpoint {
	var eps []*Endpoint
	for _, l := range t.Links {
		for _, ep := range l.Endpoints {
			if ep.Node == node {
				eps = append(eps, ep)
			}
		}
	}
	return eps
}

// NetnsName is the network namespace of a node of a lab.
func NetnsName(lab, node string) string { return lab + "-" + node }

// peer returns the other end of the link.
func (l *Link) peer(ep *Endpoint) *Endpoint {
	if l.Endpoints[0] == ep {
		return l.Endpoints[1]
	}
	return l.Endpoints[0]
}
