package loader

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

// TestClassifierIngressBytesFormula: at ingress a GRO packet counts what
// its segments weighed on the peer's wire: skb->len (link-layer header
// included) plus, for every segment but the first, the L2+L3+L4 headers
// (L2 = skb->len - wire_len; TCP's data offset; UDP's 8 bytes). A test run
// refuses a wire_len below the packet's length, so L2 is 0 here; the
// traffic test below covers it.
func TestClassifierIngressBytesFormula(t *testing.T) {
	apps := []policy.App{
		{Name: "tcp", Match: []policy.Selector{{Protos: []uint8{6}}}},
		{Name: "udp", Match: []policy.Selector{{Protos: []uint8{17}}}},
	}
	bind := classify.Binding{AppID: map[string]uint32{"tcp": 1, "udp": 2}}
	for _, link := range []LinkKind{LinkEthernet, LinkOther} {
		c := loadTestClassifier(t, Knobs{Ingress: true, Link: link}, "")
		clsUpdate(t, c, apps, bind)
		for _, tc := range []struct {
			proto uint8
			l3l4  int
		}{{6, 20 + 32}, {17, 20 + 8}} {
			p := classify.Packet{IsIP: true, Proto: tc.proto, HasPorts: true, SPort: 1, DPort: 2,
				Src: clsAddr("198.18.0.1"), Dst: clsAddr("198.18.0.2")}
			pkt := clsBuild(t, p, clsOpt{})
			pkt[14+20+12] = 8 << 4 // TCP data offset: 32 bytes
			id := uint32(1)
			if tc.proto == 17 {
				id = 2
			}
			for _, segs := range []uint32{0, 1, 4} {
				before := clsCount(t, c.objs.AppStats, id)
				wire := uint32(len(pkt))
				if segs == 0 {
					wire = 0
				}
				if _, _, err := clsRun(c.Program(), pkt, 0, wire, segs); err != nil {
					t.Fatal(err)
				}
				want := Counter{Bytes: uint64(len(pkt)), Packets: 1}
				if segs > 1 {
					want = Counter{Bytes: uint64(len(pkt) + int(segs-1)*tc.l3l4), Packets: uint64(segs)}
				}
				if d := clsDelta(clsCount(t, c.objs.AppStats, id), before); d != want {
					t.Errorf("link %d proto %d, %d segments: counted %+v, want %+v", link, tc.proto, segs, d, want)
				}
			}
		}
	}
}

// ingressApps are the apps of the wire-bytes test: as egress sees the
// flows, and (port: either side) as the reversed ingress tuple too.
var ingressApps = []policy.App{
	{Name: "tcp", Match: []policy.Selector{{Protos: []uint8{6}, Ports: []policy.PortRange{{Lo: 5201, Hi: 5201}}}}},
	{Name: "udp", Match: []policy.Selector{{Protos: []uint8{17}, Ports: []policy.PortRange{{Lo: 5202, Hi: 5202}}}}},
	{Name: "icmp", Match: []policy.Selector{{Protos: []uint8{1}}}},
}

// TestIngressBytesEqualPeerEgress sends TCP (iperf3), UDP (iperf3) and ping
// over a veth whose receiving end builds GRO packets (GRO on; TSO off on
// the sender so that segments cross the veth one by one and are merged
// again), with the classifier in monitor mode on the sender's egress and
// on the receiver's ingress: each app's bytes and packets must be equal on
// both, exactly. A counting program beside the ingress classifier shows
// GRO packets really arrived.
func TestIngressBytesEqualPeerEgress(t *testing.T) {
	nsA, nsB, ifA := newVethPair(t)
	nsExec(t, nsA, "ethtool", "-K", "va", "tso", "off", "gso", "on")
	nsExec(t, nsB, "ethtool", "-K", "vb", "gro", "on")
	b := classify.Binding{AppID: map[string]uint32{"tcp": 1, "udp": 2, "icmp": 3}}
	eg := loadTestClassifier(t, Knobs{}, "")
	ing := loadTestClassifier(t, Knobs{Ingress: true}, "")
	clsUpdate(t, eg, ingressApps, b)
	clsUpdate(t, ing, ingressApps, b)
	gro := newCounter(t)
	tcx := tcxHere(t)
	in(t, nsA, func() error { return hookAttach(t, tcx, ifA, eg.Program(), Egress, 1) })
	in(t, nsB, func() error {
		l, err := netlink.LinkByName("vb")
		if err != nil {
			return err
		}
		if err := hookAttach(t, tcx, l.Attrs().Index, ing.Program(), Ingress, 1); err != nil {
			return err
		}
		return hookAttach(t, tcx, l.Attrs().Index, groCounter(t, gro), Ingress, 2)
	})
	dropsBefore := txDropped(t, nsA, "va")

	for _, port := range []string{"5201", "5202"} {
		iperf3Server(t, nsB, port)
	}
	iperf3Client(t, nsA, "-p", "5201", "-t", "3", "-w", "128K")
	iperf3Client(t, nsA, "-p", "5202", "-t", "2", "-u", "-b", "30M")
	nsExec(t, nsA, "ping", "-q", "-c", "40", "-i", "0.02", "-s", "1200", "198.18.0.2")
	time.Sleep(300 * time.Millisecond) // nothing in flight

	if d := txDropped(t, nsA, "va") - dropsBefore; d != 0 {
		t.Fatalf("the veth dropped %d packets between the two hooks: the hooks saw different packets", d)
	}
	groPkts := readCounter(t, gro)
	if groPkts == 0 {
		t.Error("no GRO packet reached the receiver's ingress: the test does not test GRO")
	}
	for name, id := range b.AppID {
		e, i := clsCount(t, eg.objs.AppStats, id), clsCount(t, ing.objs.AppStats, id)
		t.Logf("%-4s egress %d bytes %d packets, ingress %d bytes %d packets", name, e.Bytes, e.Packets, i.Bytes, i.Packets)
		if e.Packets == 0 {
			t.Errorf("%s: nothing counted", name)
		}
		if e != i {
			t.Errorf("%s: ingress counted %+v, the peer's egress %+v: must be equal", name, i, e)
		}
	}
	e0, i0 := clsCount(t, eg.objs.AppStats, 0), clsCount(t, ing.objs.AppStats, 0)
	t.Logf("unmatched (ARP, ND, iperf3 control): egress %+v, ingress %+v; %d GRO packets at ingress", e0, i0, groPkts)
}

// hookAttach attaches prog to a tc hook of the current namespace until the
// test ends: a TCX link where the kernel has TCX, else a direct-action
// cls_bpf filter on clsact at priority prio (both programs return
// TCX_NEXT, which on clsact lets the next filter run).
func hookAttach(t *testing.T, tcx bool, ifindex int, prog *ebpf.Program, dir Direction, prio uint16) error {
	if tcx {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: dir.tcxAttachType()})
		if err != nil {
			return fmt.Errorf("attach tcx: %w", err)
		}
		t.Cleanup(func() { l.Close() })
		return nil
	}
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := netlink.QdiscReplace(q); err != nil {
		return fmt.Errorf("add clsact: %w", err)
	}
	parent := uint32(netlink.HANDLE_MIN_EGRESS)
	if dir == Ingress {
		parent = netlink.HANDLE_MIN_INGRESS
	}
	f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: parent, Priority: prio, Protocol: unix.ETH_P_ALL},
		Fd: prog.FD(), Name: "shaper_test", DirectAction: true}
	if err := netlink.FilterAdd(f); err != nil {
		return fmt.Errorf("add cls_bpf filter: %w", err)
	}
	return nil
}

// groCounter loads a program that counts packets with gso_segs > 1.
func groCounter(t *testing.T, counter *ebpf.Map) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{
		asm.LoadMem(asm.R0, asm.R1, skbGSOSegments, asm.Word),
		asm.JLE.Imm(asm.R0, 1, "out"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counter.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, -1).WithSymbol("out"),
		asm.Return(),
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "shaper_grocount", Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load gro counter: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// nsExec runs a command in a namespace and fails the test if it fails.
func nsExec(t *testing.T, ns string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

func txDropped(t *testing.T, ns, dev string) uint64 {
	t.Helper()
	s := strings.TrimSpace(nsExec(t, ns, "cat", "/sys/class/net/"+dev+"/statistics/tx_dropped"))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("tx_dropped of %s: %q", dev, s)
	}
	return n
}

// iperf3Server runs a one-off iperf3 server in ns, stopped by PID at the
// end of the test.
func iperf3Server(t *testing.T, ns, port string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-p", port)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start iperf3 server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
}

// iperf3Client runs iperf3 to 198.18.0.2 from ns to the end, retrying while
// the server is not listening yet.
func iperf3Client(t *testing.T, ns string, args ...string) {
	t.Helper()
	sh := "for i in 1 2 3 4 5 6 7 8 9 10; do iperf3 -c 198.18.0.2 " + strings.Join(args, " ") + " && exit 0; sleep 0.3; done; exit 1"
	nsExec(t, ns, "sh", "-c", sh)
}
