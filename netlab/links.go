package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/shaper/plan"
)

// bridgeName is the bridge inside a switch's namespace.
const bridgeName = "br0"

func (l *Lab) upLinks(ctx context.Context) (string, error) {
	err := forEach(ctx, l.topo.Links, func(lk *Link) error {
		if err := l.upLink(lk); err != nil {
			a, b := lk.Endpoints[0], lk.Endpoints[1]
			return fmt.Errorf("link %s:%s-%s:%s: %w", a.Node, a.Iface, b.Node, b.Iface, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	start := time.Now()
	if err := forEach(ctx, l.topo.Links, l.waitRunning); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d veth pairs, running after %.2fs", len(l.topo.Links), time.Since(start).Seconds()), nil
}

// waitRunning waits until both ends of a link are operationally up. The
// kernel gives an interface that was set up its real qdisc (and so lets it
// send) only in its link watch work, which runs up to a second later; until
// then packets are dropped. Up returns a lab that passes traffic.
func (l *Lab) waitRunning(lk *Link) error {
	for _, ep := range lk.Endpoints {
		h, err := handleAt(l.Netns(ep.Node))
		if err != nil {
			return err
		}
		defer h.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			link, err := h.LinkByName(ep.Iface)
			if err != nil {
				return fmt.Errorf("%s:%s: %w", ep.Node, ep.Iface, err)
			}
			if link.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s:%s is %s, not up, 5s after it was set up", ep.Node, ep.Iface, link.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// upLink creates the veth pair straight into both nodes' namespaces under
// its final names (the kernel creates each end in the namespace given, so
// nothing ever appears in the root namespace), then configures both ends.
func (l *Lab) upLink(lk *Link) error {
	a, b := lk.Endpoints[0], lk.Endpoints[1]
	h, err := handleAt(l.Netns(a.Node))
	if err != nil {
		return err
	}
	defer h.Close()
	if _, err := h.LinkByName(a.Iface); err != nil {
		peerNs, err := netns.GetFromName(l.Netns(b.Node))
		if err != nil {
			return fmt.Errorf("open netns of %s: %w", b.Node, err)
		}
		defer peerNs.Close()
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: a.Iface, MTU: a.MTU, HardwareAddr: mac(a.MAC)},
			PeerName:      b.Iface,
			PeerMTU:       uint32(b.MTU),
			PeerNamespace: netlink.NsFd(peerNs),
		}
		if b.MAC != "" {
			veth.PeerHardwareAddr = mac(b.MAC)
		}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth: %w", err)
		}
	}
	for _, ep := range lk.Endpoints {
		if err := l.setupEnd(lk, ep); err != nil {
			return fmt.Errorf("%s:%s: %w", ep.Node, ep.Iface, err)
		}
	}
	return nil
}

func mac(s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	hw, _ := net.ParseMAC(s)
	return hw
}

// setupEnd labels an interface with the lab's name, gives it its addresses,
// plugs it into the bridge of a switch, limits its rate, and sets it up.
func (l *Lab) setupEnd(lk *Link, ep *Endpoint) error {
	h, err := handleAt(l.Netns(ep.Node))
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(ep.Iface)
	if err != nil {
		return fmt.Errorf("find interface: %w", err)
	}
	peer := lk.peer(ep)
	alias := fmt.Sprintf("shaper-lab %s %s:%s-%s:%s", l.name, ep.Node, ep.Iface, peer.Node, peer.Iface)
	if err := h.LinkSetAlias(link, alias); err != nil {
		return fmt.Errorf("label: %w", err)
	}
	for _, a := range ep.Addrs {
		addr := &netlink.Addr{IPNet: ipNet(a), Flags: unix.IFA_F_NODAD}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", a, err)
		}
	}
	if l.topo.Node(ep.Node).Kind == KindSwitch {
		br, err := h.LinkByName(bridgeName)
		if err != nil {
			return fmt.Errorf("find bridge: %w", err)
		}
		if err := h.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
			return fmt.Errorf("join bridge: %w", err)
		}
	}
	if err := setQdisc(h, link, lk, ep.MTU); err != nil {
		return err
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// setQdisc limits the link: TBF for a rate, netem for delay or loss (which
// this project's reference kernel lacks: the error says so).
func setQdisc(h *netlink.Handle, link netlink.Link, lk *Link, mtu int) error {
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	if lk.Delay > 0 || lk.Loss > 0 {
		q := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(lk.Delay.Microseconds()),
			Loss:    float32(lk.Loss),
		})
		q.Rate64 = lk.Rate / 8
		if err := h.QdiscReplace(q); err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("delay/loss need the netem qdisc, which this kernel lacks (%v): remove delay: and loss: from the link, rate: works with TBF", err)
			}
			return fmt.Errorf("add netem: %w", err)
		}
		return nil
	}
	if lk.Rate == 0 {
		return nil
	}
	q := tbf(attrs, lk.Rate, mtu)
	if err := h.QdiscReplace(q); err != nil {
		return fmt.Errorf("add tbf rate %d bit/s: %w", lk.Rate, err)
	}
	return nil
}

// tbf sizes a token bucket for a rate in bits/s as the planner sizes one
// (plan.TBFSize: 1 ms of data, at least two full frames; 50 ms of queue).
func tbf(attrs netlink.QdiscAttrs, rateBits uint64, mtu int) *netlink.Tbf {
	rate := rateBits / 8
	burst, limit := plan.TBFSize(rate, uint32(mtu+14), 50*time.Millisecond)
	return &netlink.Tbf{
		QdiscAttrs: attrs,
		Rate:       rate,
		Buffer:     netlink.Xmittime(rate, burst),
		Limit:      limit,
	}
}

func (l *Lab) upRoutes(ctx context.Context) (string, error) {
	count := 0
	for _, n := range l.topo.Nodes {
		count += len(n.Routes)
	}
	err := forEach(ctx, l.topo.Nodes, func(n *Node) error {
		if len(n.Routes) == 0 {
			return nil
		}
		h, err := handleAt(l.Netns(n.Name))
		if err != nil {
			return err
		}
		defer h.Close()
		for _, r := range n.Routes {
			if err := addRoute(h, r); err != nil {
				return fmt.Errorf("%s: route %s: %w", n.Name, r.Dst, err)
			}
		}
		return nil
	})
	return fmt.Sprintf("%d static routes", count), err
}

func addRoute(h *netlink.Handle, r Route) error {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Protocol: unix.RTPROT_STATIC}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	} else {
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Dev != "" {
		link, err := h.LinkByName(r.Dev)
		if err != nil {
			return fmt.Errorf("find %s: %w", r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	return h.RouteReplace(nr)
}
