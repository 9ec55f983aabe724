package loader

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
)

func TestSumPerCPU(t *testing.T) {
	for _, tc := range []struct {
		in   []bpf.ClassifierCounter
		want Counter
	}{
		{nil, Counter{}},
		{[]bpf.ClassifierCounter{{Bytes: 100, Packets: 1}}, Counter{100, 1}},
		{[]bpf.ClassifierCounter{{Bytes: 100, Packets: 1}, {}, {Bytes: 1 << 40, Packets: 3}}, Counter{1<<40 + 100, 4}},
	} {
		if got := sumPerCPU(tc.in); got != tc.want {
			t.Errorf("sumPerCPU(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Offsets in struct __sk_buff (linux/bpf.h): BPF_PROG_TEST_RUN takes and
// returns it as the context of a tc program.
const (
	skbSize        = 192
	skbPriority    = 32
	skbWireLen     = 160
	skbGSOSegments = 164
)

// clsRun runs the program once on pkt with input priority prio and
// wire_len/gso_segs as given (0: the kernel uses the packet's length and
// one segment) and returns the action and the output priority.
func clsRun(prog *ebpf.Program, pkt []byte, prio, wireLen, segs uint32) (uint32, uint32, error) {
	in := make([]byte, skbSize)
	binary.LittleEndian.PutUint32(in[skbPriority:], prio)
	binary.LittleEndian.PutUint32(in[skbWireLen:], wireLen)
	binary.LittleEndian.PutUint32(in[skbGSOSegments:], segs)
	out := make([]byte, skbSize)
	ret, err := prog.Run(&ebpf.RunOptions{Data: pkt, Context: in, ContextOut: out})
	return ret, binary.LittleEndian.Uint32(out[skbPriority:]), err
}

func clsCount(t testing.TB, m *ebpf.Map, key uint32) Counter {
	t.Helper()
	var vs []bpf.ClassifierCounter
	if err := m.Lookup(key, &vs); err != nil {
		t.Fatalf("read counter %d: %v", key, err)
	}
	return sumPerCPU(vs)
}

func loadTestClassifier(t testing.TB, k Knobs, pinDir string) *Classifier {
	t.Helper()
	labtest.Root(t)
	c, err := LoadClassifier(k, pinDir)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func clsUpdate(t testing.TB, c *Classifier, apps []policy.App, b classify.Binding) {
	t.Helper()
	tab, err := classify.Compile(apps, b)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if err := c.Update(tab); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// The test policy: each app catches one parse outcome.
var (
	clsApps = []policy.App{
		{Name: "tcp443", Match: []policy.Selector{{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: 443, Hi: 443}}}}},
		{Name: "udp53", Match: []policy.Selector{{Protos: []uint8{17}, Ports: []policy.PortRange{{Lo: 53, Hi: 53}}}}},
		{Name: "udpany", Match: []policy.Selector{{Protos: []uint8{17}}}},
		{Name: "sctp9", Match: []policy.Selector{{Protos: []uint8{132}, DPorts: []policy.PortRange{{Lo: 9, Hi: 9}}}}},
		{Name: "icmp", Match: []policy.Selector{{Protos: []uint8{1}}}},
		{Name: "icmp6", Match: []policy.Selector{{Protos: []uint8{58}}}},
		{Name: "v6net", Match: []policy.Selector{{Dst: []netip.Prefix{netip.MustParsePrefix("fd00:1::/32")}}}},
		{Name: "v4net", Match: []policy.Selector{{Src: []netip.Prefix{netip.MustParsePrefix("198.18.5.0/24")}}}},
	}
	clsBind = func() classify.Binding {
		b := classify.Binding{AppID: map[string]uint32{}, AppClass: map[string]classify.Class{},
			Default: classify.Class{ClassID: 0x100ff, Slot: 0xff}}
		for i, a := range clsApps {
			b.AppID[a.Name] = uint32(i + 1)
			b.AppClass[a.Name] = classify.Class{ClassID: 0x10010 + uint32(i), Slot: 0x10 + uint32(i)}
		}
		return b
	}()
)

type clsCase struct {
	name string
	pkt  []byte
	want string // app name; "" = unmatched
}

func clsCases(t testing.TB) []clsCase {
	v4a, v4b, v4net := clsAddr("198.18.0.1"), clsAddr("198.18.0.2"), clsAddr("198.18.5.5")
	v6a, v6b, v6net := clsAddr("fd00::1"), clsAddr("fd00::2"), clsAddr("fd00:1::5")
	tcp := func(s, d netip.Addr, sp, dp uint16) classify.Packet {
		return classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: sp, DPort: dp, Src: s, Dst: d}
	}
	udp := func(s, d netip.Addr, sp, dp uint16) classify.Packet {
		p := tcp(s, d, sp, dp)
		p.Proto = 17
		return p
	}
	later := func(p classify.Packet) classify.Packet { p.HasPorts, p.SPort, p.DPort = false, 0, 0; return p }
	arp := clsSerialize(t, &layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: clsMACa, SourceProtAddress: v4a.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: v4b.AsSlice()})
	icmp4 := clsSerialize(t, &layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: v4a.AsSlice(), DstIP: v4b.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload("ping"))
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: v6a.AsSlice(), DstIP: v6net.AsSlice()}
	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	_ = icmp6.SetNetworkLayerForChecksum(ip6)
	icmp6pkt := clsSerialize(t, &layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: layers.EthernetTypeIPv6},
		ip6, icmp6, gopacket.Payload("ping"))
	ext := append(append(append([]byte{}, clsHopByHop...), clsRouting...), clsDstOpts...)
	sctp := classify.Packet{IsIP: true, Proto: 132, HasPorts: true, SPort: 5000, DPort: 9, Src: v6a, Dst: v6b}
	sctp4 := sctp
	sctp4.Src, sctp4.Dst = v4a, v4b
	return []clsCase{
		{"v4 tcp 443", clsBuild(t, tcp(v4a, v4b, 40000, 443), clsOpt{}), "tcp443"},
		{"v6 tcp 443", clsBuild(t, tcp(v6a, v6b, 40000, 443), clsOpt{}), "tcp443"},
		{"v4 tcp 80 from v4net", clsBuild(t, tcp(v4net, v4b, 40000, 80), clsOpt{}), "v4net"},
		{"v6 tcp 80 to v6net", clsBuild(t, tcp(v6a, v6net, 40000, 80), clsOpt{}), "v6net"},
		{"v4 tcp 80 unmatched", clsBuild(t, tcp(v4a, v4b, 40000, 80), clsOpt{}), ""},
		{"v4 udp sport 53", clsBuild(t, udp(v4a, v4b, 53, 40000), clsOpt{}), "udp53"},
		{"v6 udp dport 53", clsBuild(t, udp(v6a, v6b, 40000, 53), clsOpt{}), "udp53"},
		{"v6 udp other", clsBuild(t, udp(v6a, v6b, 40000, 54), clsOpt{}), "udpany"},
		{"v4 sctp 9", clsBuild(t, sctp4, clsOpt{}), "sctp9"},
		{"v6 sctp 9", clsBuild(t, sctp, clsOpt{}), "sctp9"},
		{"icmp", icmp4, "icmp"},
		{"icmpv6 to v6net", icmp6pkt, "icmp6"},
		{"vlan v4 tcp 443", clsBuild(t, tcp(v4a, v4b, 40000, 443), clsOpt{vlans: 1}), "tcp443"},
		{"qinq v6 tcp 443", clsBuild(t, tcp(v6a, v6b, 40000, 443), clsOpt{vlans: 2}), "tcp443"},
		{"qinq v4 udp 53", clsBuild(t, udp(v4a, v4b, 1, 53), clsOpt{vlans: 2}), "udp53"},
		{"v4 options tcp 443", clsBuild(t, tcp(v4a, v4b, 40000, 443), clsOpt{v4Options: true}), "tcp443"},
		{"v4 first fragment udp 53", clsBuild(t, udp(v4a, v4b, 40000, 53), clsOpt{firstFrag: true}), "udp53"},
		{"v4 later fragment udp", clsBuild(t, later(udp(v4a, v4b, 0, 0)), clsOpt{}), "udpany"},
		{"v4 later fragment tcp", clsBuild(t, later(tcp(v4a, v4b, 0, 0)), clsOpt{}), ""},
		{"v6 ext headers udp 53", clsBuild(t, udp(v6a, v6b, 40000, 53), clsOpt{v6Ext: ext, v6First: 0}), "udp53"},
		{"v6 ext + first fragment udp 53", clsBuild(t, udp(v6a, v6b, 40000, 53), clsOpt{v6Ext: ext, v6First: 0, firstFrag: true}), "udp53"},
		{"v6 ext + later fragment udp", clsBuild(t, later(udp(v6a, v6b, 0, 0)), clsOpt{v6Ext: ext, v6First: 0}), "udpany"},
		{"v6 ext + later fragment tcp to v6net", clsBuild(t, later(tcp(v6a, v6net, 0, 0)), clsOpt{v6Ext: ext, v6First: 0}), "v6net"},
		{"v6 AH udp 53", clsBuild(t, udp(v6a, v6b, 40000, 53), clsOpt{v6Ext: clsAH, v6First: 51}), "udp53"},
		{"arp", arp, ""},
	}
}

func TestClassifierTestRun(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	clsUpdate(t, c, clsApps, clsBind)
	for _, tc := range clsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			app, cls := uint32(0), clsBind.Default
			if tc.want != "" {
				app, cls = clsBind.AppID[tc.want], clsBind.AppClass[tc.want]
			}
			a0, c0 := clsCount(t, c.objs.AppStats, app), clsCount(t, c.objs.ClassStats, cls.Slot)
			ret, prio, err := clsRun(c.Program(), tc.pkt, 7, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ret != bpf.TCXNext {
				t.Errorf("returned %d, want TCX_NEXT (-1)", int32(ret))
			}
			if prio != cls.ClassID {
				t.Errorf("priority %#x, want %#x (app %q)", prio, cls.ClassID, tc.want)
			}
			// In test run wire_len is the packet's length and gso_segs 0.
			want := Counter{Bytes: uint64(len(tc.pkt)), Packets: 1}
			if d := clsDelta(clsCount(t, c.objs.AppStats, app), a0); d != want {
				t.Errorf("app %d counter advanced by %+v, want %+v", app, d, want)
			}
			if d := clsDelta(clsCount(t, c.objs.ClassStats, cls.Slot), c0); d != want {
				t.Errorf("class slot %#x counter advanced by %+v, want %+v", cls.Slot, d, want)
			}
		})
	}
}

func clsDelta(after, before Counter) Counter {
	return Counter{Bytes: after.Bytes - before.Bytes, Packets: after.Packets - before.Packets}
}

// TestClassifierGSO: a GSO packet counts wire_len bytes and gso_segs
// packets, as HTB does.
func TestClassifierGSO(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	clsUpdate(t, c, clsApps, clsBind)
	pkt := clsCases(t)[0].pkt
	before := clsCount(t, c.objs.AppStats, 1)
	if _, _, err := clsRun(c.Program(), pkt, 0, 4500, 3); err != nil {
		t.Fatal(err)
	}
	if d := clsDelta(clsCount(t, c.objs.AppStats, 1), before); d != (Counter{Bytes: 4500, Packets: 3}) {
		t.Errorf("counted %+v, want 4500 bytes 3 packets", d)
	}
}

// TestClassifierTruncated runs every prefix of every test packet and
// garbage: the program never fails, counts each packet once, and takes
// either the full packet's app or the default.
func TestClassifierTruncated(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	clsUpdate(t, c, clsApps, clsBind)
	check := func(t *testing.T, pkt []byte, full uint32) {
		a0, f0 := clsCount(t, c.objs.AppStats, 0), clsCount(t, c.objs.AppStats, full)
		ret, prio, err := clsRun(c.Program(), pkt, 0, 0, 0)
		if len(pkt) < clsMinTestRunLen(pkt) {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("len %d: err %v, want EINVAL", len(pkt), err)
			}
			return
		}
		if err != nil || ret != bpf.TCXNext {
			t.Fatalf("len %d: ret %d err %v", len(pkt), int32(ret), err)
		}
		d0, df := clsDelta(clsCount(t, c.objs.AppStats, 0), a0), clsDelta(clsCount(t, c.objs.AppStats, full), f0)
		if full != 0 && d0.Packets+df.Packets != 1 || full == 0 && d0.Packets != 1 {
			t.Fatalf("len %d: default counted %d, app %d counted %d; want one packet in total", len(pkt), d0.Packets, full, df.Packets)
		}
		if df.Packets == 1 && full != 0 && prio != clsBind.AppClass[clsApps[full-1].Name].ClassID ||
			d0.Packets == 1 && prio != clsBind.Default.ClassID {
			t.Fatalf("len %d: priority %#x does not go with the app counted", len(pkt), prio)
		}
	}
	for _, tc := range clsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			full := clsBind.AppID[tc.want]
			for n := 0; n <= len(tc.pkt); n++ {
				check(t, tc.pkt[:n], full)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for range 2000 {
			pkt := make([]byte, 14+r.IntN(120))
			for i := range pkt {
				pkt[i] = byte(r.Uint32())
			}
			if r.IntN(2) == 0 { // make it look like IP more often
				binary.BigEndian.PutUint16(pkt[12:], []uint16{0x0800, 0x86dd, 0x8100, 0x88a8}[r.IntN(4)])
			}
			check(t, pkt, 0)
		}
	})
}

// clsMinTestRunLen is the shortest input BPF_PROG_TEST_RUN accepts
// (measured on 6.18): an Ethernet header, and when its type is IPv4 or
// IPv6 the fixed IP header too. Shorter IP headers are still tested behind
// VLAN tags, which the kernel does not look through.
func clsMinTestRunLen(pkt []byte) int {
	if len(pkt) < 14 {
		return 14
	}
	switch binary.BigEndian.Uint16(pkt[12:]) {
	case 0x0800:
		return 14 + 20
	case 0x86dd:
		return 14 + 40
	}
	return 14
}

func TestClassifierMonitorOnly(t *testing.T) {
	c := loadTestClassifier(t, Knobs{}, "")
	clsUpdate(t, c, clsApps, clsBind)
	pkt := clsCases(t)[0].pkt // tcp443
	cls := clsBind.AppClass["tcp443"]
	a0, c0 := clsCount(t, c.objs.AppStats, 1), clsCount(t, c.objs.ClassStats, cls.Slot)
	_, prio, err := clsRun(c.Program(), pkt, 7, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if prio != 7 {
		t.Errorf("monitor-only changed priority 7 to %#x", prio)
	}
	if d := clsDelta(clsCount(t, c.objs.AppStats, 1), a0); d.Packets != 1 {
		t.Errorf("app counted %+v, want one packet", d)
	}
	if d := clsDelta(clsCount(t, c.objs.ClassStats, cls.Slot), c0); d.Packets != 0 {
		t.Errorf("monitor-only counted a class: %+v", d)
	}
}

// TestClassifierIngressReverses: at ingress a download reply (sport 443)
// matches "tcp dport 443" because the tuple is reversed first.
func TestClassifierIngressReverses(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Ingress: true, Shaped: true}, "")
	clsUpdate(t, c, clsApps, clsBind)
	reply := classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 443, DPort: 40000,
		Src: clsAddr("198.18.0.2"), Dst: clsAddr("198.18.5.5")}
	for _, tc := range []struct {
		p    classify.Packet
		want string
	}{
		{reply, "tcp443"},
		{classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 40000, DPort: 80,
			Src: clsAddr("198.18.0.2"), Dst: clsAddr("198.18.5.5")}, "v4net"}, // dst is the egress src
	} {
		_, prio, err := clsRun(c.Program(), clsBuild(t, tc.p, clsOpt{}), 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := clsBind.AppClass[tc.want].ClassID; prio != want {
			t.Errorf("%+v: priority %#x, want %#x (%s)", tc.p, prio, want, tc.want)
		}
	}
}

// TestClassifierPinnedReuse: a second load with the same pin dir keeps the
// counters and the active rules, and its first update (state unknown to
// the new process) replaces the old rules completely.
func TestClassifierPinnedReuse(t *testing.T) {
	labtest.Root(t)
	dir, err := os.MkdirTemp("/sys/fs/bpf", "shaper-cls-test-")
	if err != nil {
		t.Fatalf("pin dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir = filepath.Join(dir, "egress") // a hook's directory: the shared maps go beside it
	pkt := clsCases(t)[0].pkt          // tcp443

	c1, err := LoadClassifier(Knobs{Shaped: true}, dir)
	if err != nil {
		t.Fatal(err)
	}
	clsUpdate(t, c1, clsApps, clsBind)
	if _, _, err := clsRun(c1.Program(), pkt, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	c1.Close()

	c2 := loadTestClassifier(t, Knobs{Shaped: true}, dir)
	if got := clsCount(t, c2.objs.AppStats, 1); got.Packets != 1 {
		t.Errorf("app counter after reload %+v, want the packet counted before", got)
	}
	if _, prio, _ := clsRun(c2.Program(), pkt, 0, 0, 0); prio != clsBind.AppClass["tcp443"].ClassID {
		t.Errorf("rules lost on reload: priority %#x", prio)
	}
	// New rules: only v4net. The tcp443 packet must now be unmatched even
	// though this process never saw the old rules.
	clsUpdate(t, c2, clsApps[7:], clsBind)
	clsUpdate(t, c2, clsApps[7:], clsBind) // both generations now written by c2
	if _, prio, _ := clsRun(c2.Program(), pkt, 0, 0, 0); prio != clsBind.Default.ClassID {
		t.Errorf("old rules survive the update: priority %#x", prio)
	}
	if got, _ := c2.ClassCounters(); got[clsBind.AppClass["tcp443"].Slot].Packets != 2 {
		t.Errorf("class counters %v", got)
	}
}
