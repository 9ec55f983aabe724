package shaper

import (
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcShow runs `tc -d <args>` for the interface in the namespace.
func tcShow(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "tc", "-d"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tc -d %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	qdiscHandle = regexp.MustCompile(`(?m)^qdisc (\S+) ([0-9a-f]+:)`)
	classID     = regexp.MustCompile(`(?m)^class \S+ ([0-9a-f]+:[0-9a-f]+)`)
	directPkts  = regexp.MustCompile(`direct_packets_stat \d+`)
)

// tcText is what `tc -d qdisc show`, `tc -d class show` and `tc -d filter
// show` print for the interface: every qdisc and class, and the filters on
// every qdisc, every class and the ingress/egress hooks.
func tcText(t *testing.T, ns, dev string) string {
	t.Helper()
	qd := tcShow(t, ns, "qdisc", "show", "dev", dev)
	cl := tcShow(t, ns, "class", "show", "dev", dev)
	var b strings.Builder
	// direct_packets_stat is a counter that tc -d prints: not state.
	b.WriteString(directPkts.ReplaceAllString(qd, "direct_packets_stat N") + cl)
	for _, m := range qdiscHandle.FindAllStringSubmatch(qd, -1) {
		switch m[1] {
		case "clsact":
			b.WriteString("ingress:\n" + tcShow(t, ns, "filter", "show", "dev", dev, "ingress"))
			b.WriteString("egress:\n" + tcShow(t, ns, "filter", "show", "dev", dev, "egress"))
		case "ingress":
			b.WriteString("ingress:\n" + tcShow(t, ns, "filter", "show", "dev", dev, "ingress"))
		default:
			b.WriteString("parent " + m[2] + "\n" + tcShow(t, ns, "filter", "show", "dev", dev, "parent", m[2]))
		}
	}
	for _, m := range classID.FindAllStringSubmatch(cl, -1) {
		b.WriteString("parent " + m[1] + ":\n" + tcShow(t, ns, "filter", "show", "dev", dev, "parent", m[1]))
	}
	return b.String()
}

// snapshotRoundTrip snapshots, serialises, applies shaper's plan, wipes the
// ingress hook too, restores and checks that tc prints exactly what it
// printed before.
func snapshotRoundTrip(t *testing.T, ns string, h *netlink.Handle, link netlink.Link, wantKind string) string {
	t.Helper()
	before := tcText(t, ns, "sh0")
	snap, err := TakeSnapshot(link)
	if err != nil {
		t.Fatalf("TakeSnapshot: %v", err)
	}
	if snap.Kind != wantKind {
		t.Fatalf("snapshot kind %q, want %q", snap.Kind, wantKind)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	apply(t, h, link, mustPlan(t, designEgress()))
	for _, k := range []string{"clsact", "ingress"} {
		_ = exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "sh0", k).Run()
	}
	if tcText(t, ns, "sh0") == before {
		t.Fatal("apply changed nothing")
	}
	if err := Restore(h, link, &back); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if after := tcText(t, ns, "sh0"); after != before {
		t.Errorf("after restore:\n%s\nwant (before):\n%s", after, before)
	}
	return before
}

func TestSnapshotDefaultRoot(t *testing.T) {
	ns, h, link := nsLink(t)
	snapshotRoundTrip(t, ns, h, link, KindDefault)
	if st := readState(t, h, link); st.Root == nil || st.Root.Kind != "noqueue" {
		t.Errorf("root after restore = %+v, want veth's noqueue", st.Root)
	}
}

// A TBF with a peak rate and its mtu (peak bucket) comes back.
func TestSnapshotTBFPeakRoot(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 root handle 5: tbf rate 3mbit burst 6000 latency 40ms peakrate 4mbit mtu 3000")
	text := snapshotRoundTrip(t, ns, h, link, "tbf")
	for _, want := range []string{"peakrate 4Mbit", "mtu 3000b"} {
		if !strings.Contains(text, want) {
			t.Errorf("tc shows no %q; the test set-up is not what it claims:\n%s", want, text)
		}
	}
}

// The classic hand-made tree people migrate from: HTB with r2q, default
// and direct_qlen, three leaf classes with fifo limits, u32 filters on the
// root (with a mirred action on one), one on a class, a hash table linked
// from the root table, and a clsact hook with u32 filters on both sides.
func TestSnapshotHTBTreeWithFilters(t *testing.T) {
	ns, h, link := nsLink(t)
	for _, line := range []string{
		"tc qdisc add dev sh0 root handle 2: htb default 30 r2q 5 direct_qlen 77",
		"tc class add dev sh0 parent 2: classid 2:1 htb rate 20mbit burst 30k",
		"tc class add dev sh0 parent 2:1 classid 2:10 htb rate 10mbit ceil 20mbit prio 1",
		"tc class add dev sh0 parent 2:1 classid 2:20 htb rate 6mbit ceil 20mbit quantum 4000",
		"tc class add dev sh0 parent 2:1 classid 2:30 htb rate 4mbit ceil 20mbit prio 3",
		"tc qdisc add dev sh0 parent 2:10 handle 10: pfifo limit 50",
		"tc qdisc add dev sh0 parent 2:20 handle 20: bfifo limit 60000",
		"tc qdisc add dev sh0 parent 2:30 handle 30: pfifo limit 123",
		"tc filter add dev sh0 parent 2: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 2:10",
		"tc filter add dev sh0 parent 2: protocol ip prio 1 u32 match ip dport 443 0xffff match ip protocol 6 0xff flowid 2:10",
		"tc filter add dev sh0 parent 2: protocol ip prio 2 u32 match ip dst 198.18.7.0/24 flowid 2:20 action mirred egress mirror dev sh0p",
		"tc filter add dev sh0 parent 2: protocol ip prio 3 handle 7: u32 divisor 16",
		"tc filter add dev sh0 parent 2: protocol ip prio 3 u32 ht 7:3 match ip src 198.18.3.0/24 flowid 2:30",
		"tc filter add dev sh0 parent 2: protocol ip prio 3 u32 ht 800:: match ip protocol 17 0xff link 7: hashkey mask 0x000f0000 at 12",
		"tc filter add dev sh0 parent 2:1 protocol ip prio 5 u32 match ip tos 0x10 0xff flowid 2:20",
		"tc qdisc add dev sh0 clsact",
		"tc filter add dev sh0 ingress protocol ip prio 4 u32 match ip sport 53 0xffff",
		"tc filter add dev sh0 egress protocol all prio 9 u32 match u32 0 0 classid 2:30",
	} {
		tcIn(t, ns, line)
	}
	text := snapshotRoundTrip(t, ns, h, link, "htb")
	for _, want := range []string{"r2q 5", "direct_qlen 77", "limit 50p", "limit 60000b", "limit 123p",
		"match 00000050/0000ffff", "mirred", "ht divisor 16", "link 7:", "match 00350000/ffff0000"} {
		if !strings.Contains(text, want) {
			t.Errorf("tc shows no %q; the test set-up is not what it claims:\n%s", want, text)
		}
	}
}

func TestSnapshotFifoRoots(t *testing.T) {
	for _, tt := range []struct{ kind, line string }{
		{"pfifo", "tc qdisc add dev sh0 root handle 7: pfifo limit 33"},
		{"bfifo", "tc qdisc add dev sh0 root handle 7: bfifo limit 9000"},
		{"pfifo_fast", "tc qdisc add dev sh0 root handle 9: pfifo_fast"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			ns, h, link := nsLink(t)
			tcIn(t, ns, tt.line)
			snapshotRoundTrip(t, ns, h, link, tt.kind)
		})
	}
}

// Restore puts a lost ingress hook back with its filters, and leaves a
// hook that is still whole alone.
func TestRestoreIngressHook(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 ingress")
	tcIn(t, ns, "tc filter add dev sh0 ingress protocol ip prio 2 u32 match ip dst 198.18.9.9/32 classid 1:1")
	snapshotRoundTrip(t, ns, h, link, KindDefault)
	before := tcText(t, ns, "sh0")
	snap, err := TakeSnapshot(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := Restore(h, link, snap); err != nil {
		t.Fatalf("Restore over an intact hook: %v", err)
	}
	if after := tcText(t, ns, "sh0"); after != before {
		t.Errorf("restore over an intact hook changed it:\n%s\nwant\n%s", after, before)
	}
}

// What cannot be put back is refused by name, before anything changes.
func TestSnapshotRefuses(t *testing.T) {
	tests := []struct{ setup []string }{
		{[]string{"tc qdisc add dev sh0 root handle 9: stab linklayer atm overhead 10 htb default 1"}},
		{[]string{"tc qdisc add dev sh0 root handle 9: estimator 1sec 8sec pfifo limit 10"}},
	}
	wants := []string{"qdisc htb 9: parent root has a size table", "qdisc pfifo 9: parent root has a rate estimator"}
	for i, tt := range tests {
		t.Run(wants[i], func(t *testing.T) {
			ns, h, link := nsLink(t)
			for _, l := range tt.setup {
				tcIn(t, ns, l)
			}
			refused(t, h, link, wants[i])
		})
	}
}

func refused(t *testing.T, h *netlink.Handle, link netlink.Link, what string) {
	t.Helper()
	_, err := TakeSnapshot(link)
	var b interface{ BadInput() bool }
	if err == nil || !errors.As(err, &b) || !b.BadInput() {
		t.Fatalf("TakeSnapshot = %v, want a bad-input error", err)
	}
	for _, want := range []string{what, "tc qdisc del dev sh0 root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// An eBPF program on a filter in the egress tree is freed when shaper
// replaces the root, so the filter could not come back: refused by name.
func TestSnapshotRefusesEBPFInTree(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 root handle 3: htb default 10")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "user_cls", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("load a test program: %v", err)
	}
	defer prog.Close()
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: 0x30000, Priority: 4, Protocol: unix.ETH_P_ALL},
		Fd:          prog.FD(), Name: "user_cls", DirectAction: true,
	}
	if err := h.FilterAdd(f); err != nil {
		t.Fatalf("add bpf filter: %v", err)
	}
	refused(t, h, link, "filter bpf parent 3: pref 4")
}

// A saved tree the kernel no longer takes leaves the interface with the
// kernel's default qdisc, not half a tree, and says which object failed.
func TestRestoreFailureLeavesDefault(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 root handle 2: htb default 10")
	tcIn(t, ns, "tc class add dev sh0 parent 2: classid 2:10 htb rate 5mbit")
	snap, err := TakeSnapshot(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Tree) != 2 || snap.Tree[1].Type != "class" {
		t.Fatalf("snapshot tree %+v, want the qdisc and its class", snap.Tree)
	}
	// The class's options without their parameters (TCA_HTB_PARMS).
	o, err := parseTC(snap.Tree[1].Msg)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range o.Attrs {
		if a.Type&nlaTypeMask == tcaOptions {
			o.Attrs[i].Data = nil
		}
	}
	snap.Tree[1].Msg = o.serialize()
	err = Restore(h, link, snap)
	if err == nil || !strings.Contains(err.Error(), "add class htb 2:10") || !strings.Contains(err.Error(), "default qdisc") {
		t.Fatalf("Restore = %v, want an error naming class 2:10 and the default qdisc", err)
	}
	if st := readState(t, h, link); !st.Root.IsDefault() {
		t.Errorf("root after a failed restore: %+v, want the kernel default", st.Root)
	}
}
