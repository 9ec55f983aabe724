package loader

import (
	"testing"

	"github.com/vishvananda/netlink"
)

func TestLinkKindOf(t *testing.T) {
	for encap, want := range map[string]LinkKind{
		"ether": LinkEthernet, "loopback": LinkEthernet,
		"none": LinkL3, "ppp": LinkL3, "ipip": LinkL3, "tunnel6": LinkL3, "sit": LinkL3, "unknown519": LinkL3,
		"gre": LinkOther, "unknown823": LinkOther, "infiniband": LinkOther,
	} {
		l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "x", EncapType: encap}}
		if got := LinkKindOf(l); got != want {
			t.Errorf("%s: link kind %d, want %d", encap, got, want)
		}
	}
}
