package netlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// StatusReport is what a lab looks like in the kernel now.
type StatusReport struct {
	Name  string       `json:"name"`
	File  string       `json:"file,omitempty"`
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is one node: its interfaces, addresses, routes and, on OSPF
// routers, adjacencies.
type NodeStatus struct {
	Name           string          `json:"name"`
	Kind           Kind            `json:"kind"`
	Netns          string          `json:"netns"`
	Addresses      []string        `json:"addresses"`
	Interfaces     []IfaceStatus   `json:"interfaces"`
	Routes         []string        `json:"routes,omitempty"`
	OSPFNeighbours []OSPFNeighbour `json:"ospf_neighbours,omitempty"`
	// OSPF6Neighbours are the OSPFv3 (IPv6) adjacencies.
	OSPF6Neighbours []OSPFNeighbour `json:"ospf6_neighbours,omitempty"`
	Error           string          `json:"error,omitempty"`
}

// IfaceStatus is one interface of a node.
type IfaceStatus struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac,omitempty"`
	MTU       int      `json:"mtu"`
	State     string   `json:"state"`
	Master    string   `json:"master,omitempty"`
	Qdisc     string   `json:"qdisc,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Status reads a lab's state from the kernel (and FRR).
func Status(name string) (*StatusReport, error) {
	l, err := Open(name)
	if err != nil {
		return nil, err
	}
	return l.Status(context.Background())
}

// Status reads the lab's state from the kernel (and FRR).
func (l *Lab) Status(ctx context.Context) (*StatusReport, error) {
	rep := &StatusReport{Name: l.name, File: l.topo.File}
	v6 := wantOSPF6(l.topo)
	for _, n := range l.topo.Nodes {
		ns := NodeStatus{Name: n.Name, Kind: n.Kind, Netns: l.Netns(n.Name), Addresses: []string{}}
		if err := l.readNode(&ns); err != nil {
			ns.Error = err.Error()
		}
		if n.OSPF != nil {
			nbrs, err := ospfNeighbours(ctx, nodeDir(l.name, n.Name))
			if err != nil && ns.Error == "" {
				ns.Error = err.Error()
			}
			ns.OSPFNeighbours = nbrs
			if v6 {
				nbrs, err := ospf6Neighbours(ctx, nodeDir(l.name, n.Name))
				if err != nil && ns.Error == "" {
					ns.Error = err.Error()
				}
				ns.OSPF6Neighbours = nbrs
			}
		}
		rep.Nodes = append(rep.Nodes, ns)
	}
	return rep, nil
}

func (l *Lab) readNode(ns *NodeStatus) error {
	h, err := handleAt(ns.Netns)
	if err != nil {
		return err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, lk := range links {
		names[lk.Attrs().Index] = lk.Attrs().Name
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Name < links[j].Attrs().Name })
	for _, lk := range links {
		a := lk.Attrs()
		if a.Name == "lo" {
			continue
		}
		is := IfaceStatus{Name: a.Name, MAC: a.HardwareAddr.String(), MTU: a.MTU, State: a.OperState.String(), Master: names[a.MasterIndex]}
		if qs, err := h.QdiscList(lk); err == nil {
			for _, q := range qs {
				if tb, ok := q.(*netlink.Tbf); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
					is.Qdisc = fmt.Sprintf("tbf rate %dbit", tb.Rate*8)
				}
			}
		}
		addrs, err := h.AddrList(lk, unix.AF_UNSPEC)
		if err != nil {
			return fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.IP.IsLinkLocalUnicast() {
				continue
			}
			is.Addresses = append(is.Addresses, ad.IPNet.String())
			ns.Addresses = append(ns.Addresses, ad.IPNet.String())
		}
		ns.Interfaces = append(ns.Interfaces, is)
	}
	routes, err := h.RouteListFiltered(unix.AF_UNSPEC, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if s := routeString(r, names); s != "" {
			ns.Routes = append(ns.Routes, s)
		}
	}
	return nil
}

var protos = map[netlink.RouteProtocol]string{
	unix.RTPROT_KERNEL: "kernel", unix.RTPROT_STATIC: "static", unix.RTPROT_BOOT: "boot", 188: "ospf", 186: "bgp",
}

// routeString prints a route like `ip route`, leaving out IPv6 link-local
// and multicast routes that every interface has.
func routeString(r netlink.Route, names map[int]string) string {
	dst := "default"
	if r.Dst != nil {
		if r.Dst.IP.IsLinkLocalUnicast() || r.Dst.IP.IsMulticast() {
			return ""
		}
		if ones, _ := r.Dst.Mask.Size(); ones > 0 {
			dst = r.Dst.String()
		}
	}
	parts := []string{dst}
	if r.Gw != nil {
		parts = append(parts, "via", r.Gw.String())
	}
	for _, nh := range r.MultiPath {
		parts = append(parts, "nexthop via", net.IP(nh.Gw).String(), "dev", names[nh.LinkIndex])
	}
	if dev := names[r.LinkIndex]; dev != "" {
		parts = append(parts, "dev", dev)
	}
	if p, ok := protos[r.Protocol]; ok {
		parts = append(parts, "proto", p)
	}
	return strings.Join(parts, " ")
}

// WriteTable prints the report for people.
func (r *StatusReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "LAB %s\n", r.Name)
	fmt.Fprintln(tw, "NODE\tKIND\tNETNS\tIFACE\tSTATE\tMTU\tADDRESSES\tNOTE")
	for _, n := range r.Nodes {
		if n.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\terror: %s\n", n.Name, n.Kind, n.Netns, n.Error)
		}
		for _, is := range n.Interfaces {
			note := is.Qdisc
			if is.Master != "" {
				note = strings.TrimSpace("port of " + is.Master + " " + note)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.Name, n.Kind, n.Netns, is.Name, is.State, is.MTU, strings.Join(is.Addresses, ","), note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Nodes {
		if len(n.Routes) == 0 && len(n.OSPFNeighbours) == 0 && len(n.OSPF6Neighbours) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s routes:\n", n.Name)
		for _, rt := range n.Routes {
			fmt.Fprintf(w, "  %s\n", rt)
		}
		for _, nb := range n.OSPFNeighbours {
			fmt.Fprintf(w, "  ospf neighbour %s %s on %s (%s)\n", nb.RouterID, nb.State, nb.Iface, nb.Address)
		}
		for _, nb := range n.OSPF6Neighbours {
			fmt.Fprintf(w, "  ospf6 neighbour %s %s on %s\n", nb.RouterID, nb.State, nb.Iface)
		}
	}
	return nil
}
