package loader

import (
	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/bpf"
)

// LinkKind says what the classifier finds in front of the IP header on a
// link (the knob link_type of classifier.c).
type LinkKind = bpf.ClassifierLinkKind

// The link kinds: Ethernet (+VLAN); none (IP at offset 0); or a header of
// another or unknown length, read relative to the kernel's network header
// (slower: a helper call per header, but right on every link).
const (
	LinkEthernet LinkKind = bpf.ClassifierLinkKindLINK_ETH
	LinkL3       LinkKind = bpf.ClassifierLinkKindLINK_L3
	LinkOther    LinkKind = bpf.ClassifierLinkKindLINK_NET
)

// LinkKindOf derives the classifier's link kind from the link's hardware
// type (ARPHRD_*, as netlink names it). Devices without header_ops give tc
// the IP header at offset 0: tun (none), PPP, ipip, ip6tnl, sit, raw IP
// (WireGuard is none). GRE may have header_ops (an outer IP+GRE header in
// front of the packet when it has no fixed remote), and other types are not
// known here: they read relative to the network header.
func LinkKindOf(l netlink.Link) LinkKind {
	switch l.Attrs().EncapType {
	case "ether", "loopback":
		return LinkEthernet
	case "none", "ppp", "ipip", "tunnel6", "sit", "unknown519": // 519: ARPHRD_RAWIP
		return LinkL3
	}
	return LinkOther
}
