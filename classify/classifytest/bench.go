package classifytest

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

// BenchKind is the shape of a benchmark policy.
type BenchKind int

const (
	// BenchPorts: TCP destination ports only (no address lookups).
	BenchPorts BenchKind = iota
	// BenchTwoLens: half ports, half prefixes of two lengths per family
	// (/32 and /24, /128 and /64): the hash path.
	BenchTwoLens
	// BenchManyLens: half ports, half prefixes of eight lengths per family:
	// more than bpf.MaxHashLens, so the LPM fallback from ~32 rules on.
	BenchManyLens
)

func (k BenchKind) String() string {
	return [...]string{"ports only", "CIDRs with /32 and /24 only", "CIDRs with many lengths (LPM fallback)"}[k]
}

var benchLens = map[BenchKind][2][]int{ // v4, v6; longest first
	BenchTwoLens:  {{32, 24}, {128, 64}},
	BenchManyLens: {{32, 31, 30, 29, 28, 26, 24, 22}, {128, 127, 120, 112, 96, 80, 64, 48}},
}

// BenchPolicy builds a policy of n map entries ("rules") for the
// classifier benchmark: TCP destination ports and, unless kind is
// BenchPorts, as many prefixes (v4 and v6, src and dst, lengths cycling
// through the kind's) spread over up to 64 apps of one selector each. It
// returns v4 and v6 packets aimed at the last app's shortest prefixes, so
// that every field lookup of the program runs and a hashed field probes
// every length before its hit (the worst case).
func BenchPolicy(kind BenchKind, n int) (apps []policy.App, b classify.Binding, v4, v6 classify.Packet) {
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
	if kind == BenchPorts {
		nports = n
	}
	for i := range nports {
		s := &apps[i%nsel].Match[0]
		p := uint16(1 + i%65535)
		if i < 65535 {
			s.DPorts = append(s.DPorts, policy.PortRange{Lo: p, Hi: p})
		} else {
			s.SPorts = append(s.SPorts, policy.PortRange{Lo: p, Hi: p})
		}
	}
	lens := benchLens[kind]
	for i := range n - nports {
		s := &apps[i%nsel].Match[0]
		j := i / nsel
		slot := (j / 4) % len(lens[0])
		k := j/4/len(lens[0])*nsel + i%nsel // index among its field's prefixes of this length
		switch j % 4 {
		case 0:
			s.Dst = append(s.Dst, benchPrefix(true, slot, lens[0][slot], k))
		case 1:
			s.Src = append(s.Src, benchPrefix(true, slot, lens[0][slot], k))
		case 2:
			s.Dst = append(s.Dst, benchPrefix(false, slot, lens[1][slot], k))
		case 3:
			s.Src = append(s.Src, benchPrefix(false, slot, lens[1][slot], k))
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
	if len(last.SPorts) > 0 {
		v4.SPort, v6.SPort = last.SPorts[0].Lo, last.SPorts[0].Lo
	}
	aim(&v4.Src, &v6.Src, last.Src)
	aim(&v4.Dst, &v6.Dst, last.Dst)
	return apps, b, v4, v6
}

// aim points the packets' address inside the shortest prefix of each
// family in ps (not at its first address, so that a longer prefix there
// cannot be the one that matches).
func aim(a4, a6 *netip.Addr, ps []netip.Prefix) {
	var best4, best6 netip.Prefix
	for _, p := range ps {
		best := &best6
		if p.Addr().Is4() {
			best = &best4
		}
		if !best.IsValid() || p.Bits() < best.Bits() {
			*best = p
		}
	}
	for _, x := range []struct {
		a *netip.Addr
		p netip.Prefix
	}{{a4, best4}, {a6, best6}} {
		if !x.p.IsValid() {
			continue
		}
		*x.a = x.p.Addr()
		if x.p.Bits() < x.p.Addr().BitLen() {
			*x.a = x.a.Next()
		}
	}
}

// benchPrefix is the k-th prefix of length l in length slot `slot`: each
// slot has its own region (v4: a /11 of 10.0.0.0/8; v6: a /32 of fd00::/16),
// so prefixes of different slots never nest. These are map keys only:
// no packet is sent to them.
func benchPrefix(is4 bool, slot, l, k int) netip.Prefix {
	bitLen, base := 32, netip.MustParseAddr("10.0.0.0")
	regionBits := 21
	if !is4 {
		bitLen, base, regionBits = 128, netip.MustParseAddr("fd00::"), 96
	}
	off := new(big.Int).Lsh(big.NewInt(int64(slot)), uint(regionBits))
	host := new(big.Int).Lsh(big.NewInt(int64(k)), uint(bitLen-l))
	host.Mod(host, new(big.Int).Lsh(big.NewInt(1), uint(regionBits)))
	sum := new(big.Int).SetBytes(base.AsSlice())
	sum.Add(sum, off).Add(sum, host)
	buf := sum.FillBytes(make([]byte, bitLen/8))
	a, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(a, l)
}

// BenchApps builds the subscriber policy of the apps benchmark: n apps,
// each matching its share of `prefixes` IPv4 /32 destinations (a
// single-field selector), and every n/200-th app (200 in all) also TCP to
// a port of its own (a multi-field selector); one class per ten apps. It
// returns a packet to the last app's last prefix (every lookup runs, the
// answer is the last selector) and one that matches nothing.
func BenchApps(n, prefixes int) (apps []policy.App, b classify.Binding, hit, miss classify.Packet) {
	apps = make([]policy.App, n)
	b = classify.Binding{AppID: map[string]uint32{}, AppClass: map[string]classify.Class{},
		Default: classify.Class{ClassID: 0x10001, Slot: 1}}
	per := max(1, prefixes/n)
	every := max(1, n/200)
	for i := range apps {
		a := &apps[i]
		a.Name = fmt.Sprintf("sub%d", i)
		b.AppID[a.Name] = uint32(i + 1)
		slot := uint32(0x10 + i/10)
		b.AppClass[a.Name] = classify.Class{ClassID: 0x10000 | slot, Slot: slot}
		if i%every == 0 {
			a.Match = append(a.Match, policy.Selector{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: uint16(10000 + i/every), Hi: uint16(10000 + i/every)}}})
		}
		s := policy.Selector{}
		for j := range per {
			s.Dst = append(s.Dst, netip.PrefixFrom(benchAddr(i*per+j), 32))
		}
		a.Match = append(a.Match, s)
	}
	last := apps[n-1].Match[len(apps[n-1].Match)-1].Dst
	hit = classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 40000, DPort: 443,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: last[len(last)-1].Addr()}
	miss = hit
	miss.Dst = netip.MustParseAddr("203.0.113.1")
	return apps, b, hit, miss
}

// benchAddr is the i-th address of 10.0.0.0/8 from 10.0.0.1 on.
func benchAddr(i int) netip.Addr {
	v := uint32(10<<24) + uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
