package classifytest

import (
	"fmt"
	"net/netip"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

// BenchPolicy builds a policy of n map entries ("rules") for the
// classifier benchmark: half TCP destination ports, half prefixes (/32 and
// /64, v4 and v6, src and dst), spread over up to 64 apps of one selector
// each. It returns v4 and v6 packets aimed at the last app, so that every
// field lookup of the program runs and hits.
func BenchPolicy(n int) (apps []policy.App, b classify.Binding, v4, v6 classify.Packet) {
	nsel := max(1, min(64, n/8))
	apps = make([]policy.App, nsel)
	b = classify.Binding{AppID: map[string]uint32{}, AppClass: map[string]classify.Class{},
		Default: classify.Class{ClassID: 0x10001, Slot: 1}}
	for i := range apps {
		apps[i] = policy.App{Name: fmt.Sprintf("bench%d", i), Match: []policy.Selector{{Protos: []uint8{6}}}}
		b.AppID[apps[i].Name] = uint32(i + 1)
		b.AppClass[apps[i].Name] = classify.Class{ClassID: 0x10010 + uint32(i), Slot: 0x10 + uint32(i)}
	}
	nports := n / 2
	for i := range nports {
		s := &apps[i%nsel].Match[0]
		p := uint16(1 + i%65535)
		if i < 65535 {
			s.DPorts = append(s.DPorts, policy.PortRange{Lo: p, Hi: p})
		} else {
			s.SPorts = append(s.SPorts, policy.PortRange{Lo: p, Hi: p})
		}
	}
	for i := range n - nports {
		s := &apps[i%nsel].Match[0]
		v4 := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)})
		var a16 [16]byte
		a16[0], a16[6], a16[7] = 0xfd, byte(i>>8), byte(i)
		v6 := netip.AddrFrom16(a16)
		switch (i / nsel) % 4 {
		case 0:
			s.Dst = append(s.Dst, netip.PrefixFrom(v4, 32))
		case 1:
			s.Src = append(s.Src, netip.PrefixFrom(v4, 32))
		case 2:
			s.Dst = append(s.Dst, netip.PrefixFrom(v6, 64))
		case 3:
			s.Src = append(s.Src, netip.PrefixFrom(v6, 64))
		}
	}
	last := apps[nsel-1].Match[0]
	v4 = classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 0, DPort: 1,
		Src: netip.MustParseAddr("198.19.255.1"), Dst: netip.MustParseAddr("198.19.255.2")}
	v6 = v4
	v6.Src, v6.Dst = netip.MustParseAddr("fd00:ffff::1"), netip.MustParseAddr("fd00:ffff::2")
	if len(last.DPorts) > 0 {
		v4.DPort, v6.DPort = last.DPorts[0].Lo, last.DPorts[0].Lo
	}
	for _, p := range append(last.Src, last.Dst...) {
		pk := &v4
		if p.Addr().Is6() {
			pk = &v6
		}
		if slicesContains(last.Src, p) {
			pk.Src = p.Addr()
		} else {
			pk.Dst = p.Addr()
		}
	}
	return apps, b, v4, v6
}

func slicesContains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
