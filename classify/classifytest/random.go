// Package classifytest makes random policies and packets over small value
// domains, so that selectors overlap and match often. The classify tests
// and the BPF differential test in loader share it.
package classifytest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

var (
	protos = []uint8{1, 6, 17, 58, 132, 136, 47, 50}
	ports  = []uint16{0, 1, 53, 80, 443, 8080, 65535}
	addrs4 = []string{"198.18.0.1", "198.18.0.2", "198.18.1.1", "198.19.255.255", "198.18.128.7"}
	addrs6 = []string{"fd00::1", "fd00::2", "fd00:1::1", "fd12:3456::9", "fdff::ffff"}
	lens4  = []int{0, 8, 15, 16, 24, 31, 32}
	lens6  = []int{0, 8, 16, 32, 64, 127, 128}
	comms  = []string{"curl", "iperf3", "firefox-esr-bin"} // 15 bytes: comm's longest
	// cgroups and their ids as Binding gives them; packets also carry ids
	// of no listed cgroup.
	cgroups   = map[string]uint64{"/a": 101, "/b/c.service": 202}
	cgroupIDs = []uint64{0, 101, 202, 303}
)

// Apps returns 1..maxApps apps of 0..3 selectors each, and half of them
// one single-field selector more.
func Apps(r *rand.Rand, maxApps int) []policy.App {
	n := 1 + r.IntN(maxApps)
	apps := make([]policy.App, n)
	for i := range apps {
		apps[i].Name = fmt.Sprintf("app%d", i)
		for range r.IntN(4) {
			apps[i].Match = append(apps[i].Match, Selector(r))
		}
		if r.IntN(2) == 0 {
			apps[i].Match = slices.Insert(apps[i].Match, r.IntN(len(apps[i].Match)+1), SingleSelector(r))
		}
	}
	return apps
}

// Selector returns a random selector, each field absent half the time
// (process and cgroup more often).
func Selector(r *rand.Rand) policy.Selector {
	var s policy.Selector
	if r.IntN(3) == 0 {
		s.Process = comms[r.IntN(len(comms))]
	}
	if r.IntN(4) == 0 {
		s.Cgroup = cgroupPath(r)
	}
	if r.IntN(2) == 0 {
		for range 1 + r.IntN(2) {
			s.Protos = append(s.Protos, protos[r.IntN(len(protos))])
		}
	}
	s.Ports = portRanges(r, 4)
	s.SPorts = portRanges(r, 3)
	s.DPorts = portRanges(r, 2)
	s.Src = prefixes(r)
	s.Dst = prefixes(r)
	return s
}

// SingleSelector returns a selector with one field.
func SingleSelector(r *rand.Rand) policy.Selector {
	var s policy.Selector
	switch r.IntN(8) {
	case 0:
		s.Protos = []uint8{protos[r.IntN(len(protos))]}
	case 1:
		s.Ports = portRanges(r, 1)
	case 2:
		s.SPorts = portRanges(r, 1)
	case 3:
		s.DPorts = portRanges(r, 1)
	case 4:
		for s.Src == nil {
			s.Src = prefixes(r)
		}
	case 5:
		for s.Dst == nil {
			s.Dst = prefixes(r)
		}
	case 6:
		s.Process = comms[r.IntN(len(comms))]
	default:
		s.Cgroup = cgroupPath(r)
	}
	return s
}

func cgroupPath(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return "/a"
	}
	return "/b/c.service"
}

// portRanges is empty one time in `oneIn`.
func portRanges(r *rand.Rand, oneIn int) []policy.PortRange {
	if r.IntN(oneIn) != 0 {
		return nil
	}
	var out []policy.PortRange
	for range 1 + r.IntN(2) {
		a, b := ports[r.IntN(len(ports))], ports[r.IntN(len(ports))]
		if r.IntN(2) == 0 {
			b = a
		}
		out = append(out, policy.PortRange{Lo: min(a, b), Hi: max(a, b)})
	}
	return out
}

func prefixes(r *rand.Rand) []netip.Prefix {
	if r.IntN(2) == 0 {
		return nil
	}
	var out []netip.Prefix
	for range 1 + r.IntN(2) {
		a, lens := addrs4, lens4
		if r.IntN(2) == 0 {
			a, lens = addrs6, lens6
		}
		p, _ := netip.MustParseAddr(a[r.IntN(len(a))]).Prefix(lens[r.IntN(len(lens))])
		out = append(out, p)
	}
	return out
}

// Binding gives app i id i+1 and, for most apps, one of a few classes.
func Binding(r *rand.Rand, apps []policy.App) classify.Binding {
	b := classify.Binding{
		AppID:    map[string]uint32{},
		AppClass: map[string]classify.Class{},
		Default:  classify.Class{ClassID: 0x10000 + 99, Slot: 99},
		Cgroups:  cgroups,
	}
	for i, a := range apps {
		b.AppID[a.Name] = uint32(i + 1)
		if r.IntN(4) != 0 {
			slot := uint32(0x10 + r.IntN(4))
			b.AppClass[a.Name] = classify.Class{ClassID: 0x10000 | slot, Slot: slot}
		}
	}
	return b
}

// Packet returns a random IP packet (both addresses of one family).
func Packet(r *rand.Rand) classify.Packet {
	p := classify.Packet{IsIP: true, Proto: protos[r.IntN(len(protos))]}
	a := addrs4
	if r.IntN(2) == 0 {
		a = addrs6
	}
	p.Src = netip.MustParseAddr(a[r.IntN(len(a))])
	p.Dst = netip.MustParseAddr(a[r.IntN(len(a))])
	if r.IntN(3) == 0 { // a neighbour of a listed address: near misses
		p.Src = p.Src.Next()
	}
	if classify.PortProto(p.Proto) {
		p.HasPorts = r.IntN(8) != 0 // else a later fragment
	}
	if p.HasPorts {
		p.SPort = port(r)
		p.DPort = port(r)
	}
	return p
}

// WithOwner gives p a random socket owner: a comm (unknown a quarter of
// the time, and sometimes one no selector names) and a cgroup id.
func WithOwner(r *rand.Rand, p classify.Packet) classify.Packet {
	if r.IntN(4) != 0 {
		p.Comm = append(slices.Clone(comms), "wget")[r.IntN(len(comms)+1)]
	}
	p.Cgroup = cgroupIDs[r.IntN(len(cgroupIDs))]
	return p
}

func port(r *rand.Rand) uint16 {
	p := ports[r.IntN(len(ports))]
	if r.IntN(4) == 0 && p < 65535 {
		p++
	}
	return p
}

// Paths counts how random policies' address fields were compiled, so that
// tests can show both lookup paths were exercised.
type Paths struct {
	Hash      int // fields probed by hash with 2 or more lengths
	HashMax   int // fields probed by hash with bpf.MaxHashLens lengths
	LPM       int // fields in the trie
	Fields    int // fields with prefixes
	Policies  int
	WithLPM   int // policies with at least one field in the trie
	WithHash2 int // policies with at least one hashed field of 2+ lengths
}

// Add counts t's fields.
func (p *Paths) Add(t *classify.Tables) {
	p.Policies++
	lpm, hash2 := false, false
	for _, a := range t.Addr {
		switch {
		case a.LPM:
			p.LPM++
			lpm = true
		case len(a.Lens) >= 2:
			p.Hash++
			hash2 = true
			if len(a.Lens) == bpf.MaxHashLens {
				p.HashMax++
			}
		}
		if len(a.Lens) > 0 {
			p.Fields++
		}
	}
	if lpm {
		p.WithLPM++
	}
	if hash2 {
		p.WithHash2++
	}
}

// Enough fails unless at least n policies had a field on each path and
// some field used every hash slot.
func (p Paths) Enough(n int) error {
	if p.WithLPM < n || p.WithHash2 < n || p.HashMax == 0 {
		return fmt.Errorf("address paths poorly covered: %+v; want %d policies with a trie field and with a multi-length hashed field, "+
			"and a field using all %d hash lengths", p, n, bpf.MaxHashLens)
	}
	return nil
}

// LargeApps returns n apps over wider domains than Apps, for the 10,000-
// selector differential test: most apps have one single-field selector (a
// /32 or /24 of 10.0.0.0/8, a port, a process or a cgroup), and up to
// maxMulti selectors in all combine fields (drawn from the small domains,
// so they overlap the singles). Packets from LargePacket hit them often.
func LargeApps(r *rand.Rand, n, maxMulti int) []policy.App {
	apps := make([]policy.App, n)
	multi := 0
	for i := range apps {
		a := &apps[i]
		a.Name = fmt.Sprintf("app%d", i)
		if multi < maxMulti && r.IntN(n/maxMulti+1) == 0 {
			s := Selector(r)
			s.Ports = nil // one selector, not two
			s.Dst = append(s.Dst, largePrefix(r))
			a.Match = append(a.Match, s)
			multi++
			continue
		}
		var s policy.Selector
		switch r.IntN(10) {
		case 0:
			s.DPorts = []policy.PortRange{{Lo: uint16(1000 + r.IntN(2000)), Hi: uint16(1000 + r.IntN(2000))}}
			s.DPorts[0].Lo = min(s.DPorts[0].Lo, s.DPorts[0].Hi)
		case 1:
			s.Process = comms[r.IntN(len(comms))]
		case 2:
			s.Cgroup = cgroupPath(r)
		default:
			s.Dst = []netip.Prefix{largePrefix(r)}
		}
		a.Match = append(a.Match, s)
	}
	return apps
}

// largePrefix is a /32 or /24 of 10.0.0.0/16.
func largePrefix(r *rand.Rand) netip.Prefix {
	a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(r.IntN(256))})
	if r.IntN(4) == 0 {
		p, _ := a.Prefix(24)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// LargePacket is a TCP or UDP packet to 10.0.0.0/16 (or a Packet from the
// small domains, one time in four) with a random owner.
func LargePacket(r *rand.Rand) classify.Packet {
	if r.IntN(4) == 0 {
		return WithOwner(r, Packet(r))
	}
	p := classify.Packet{IsIP: true, Proto: []uint8{6, 17}[r.IntN(2)], HasPorts: true,
		SPort: uint16(r.IntN(65536)), DPort: uint16(1000 + r.IntN(2100)),
		Src: netip.MustParseAddr(addrs4[r.IntN(len(addrs4))]), Dst: largePrefix(r).Addr()}
	return WithOwner(r, p)
}
