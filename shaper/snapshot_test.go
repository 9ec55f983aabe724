package shaper

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/shaper/plan"
)

// treeOf is the parts of the state Restore must reproduce (no counters).
func treeOf(t *testing.T, h *netlink.Handle, link netlink.Link) string {
	t.Helper()
	st := readState(t, h, link)
	if st.Root != nil {
		st.Root.Stats = plan.Stats{}
	}
	for i := range st.Classes {
		st.Classes[i].Stats = plan.Stats{}
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []string
	for _, q := range qs {
		if q.Attrs().Parent != netlink.HANDLE_ROOT {
			leaves = append(leaves, q.Type()+" "+plan.HandleString(q.Attrs().Handle)+" parent "+plan.HandleString(q.Attrs().Parent))
		}
	}
	b, _ := json.Marshal(struct {
		State  *plan.KernelState
		Leaves []string
	}{st, leaves})
	return string(b)
}

// snapshotRoundTrip snapshots, serialises, applies shaper's plan, restores
// and checks the interface is back to what it was.
func snapshotRoundTrip(t *testing.T, h *netlink.Handle, link netlink.Link, wantKind string) {
	t.Helper()
	before := treeOf(t, h, link)
	snap, err := TakeSnapshot(h, link)
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
	if treeOf(t, h, link) == before {
		t.Fatal("apply changed nothing")
	}
	if err := Restore(h, link, &back); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if after := treeOf(t, h, link); after != before {
		t.Errorf("after restore:\n%s\nwant\n%s\nsnapshot %s", after, before, data)
	}
}

func TestSnapshotDefaultRoot(t *testing.T) {
	_, h, link := nsLink(t)
	snapshotRoundTrip(t, h, link, KindDefault)
	if st := readState(t, h, link); st.Root == nil || st.Root.Kind != "noqueue" {
		t.Errorf("root after restore = %+v, want veth's noqueue", st.Root)
	}
}

func TestSnapshotTBFRoot(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 root handle 5: tbf rate 3mbit burst 6000 latency 40ms")
	snapshotRoundTrip(t, h, link, "tbf")
}

func TestSnapshotHTBTree(t *testing.T) {
	ns, h, link := nsLink(t)
	for _, line := range []string{
		"tc qdisc add dev sh0 root handle 2: htb default 22 r2q 5",
		"tc class add dev sh0 parent 2: classid 2:1 htb rate 20mbit burst 30k",
		"tc class add dev sh0 parent 2:1 classid 2:21 htb rate 5mbit ceil 20mbit prio 3",
		"tc class add dev sh0 parent 2:1 classid 2:22 htb rate 15mbit ceil 20mbit quantum 4000",
		"tc class add dev sh0 parent 2:21 classid 2:211 htb rate 1mbit ceil 5mbit",
		"tc qdisc add dev sh0 parent 2:22 handle 22: bfifo",
		"tc qdisc add dev sh0 parent 2:211 handle 211: pfifo",
	} {
		tcIn(t, ns, line)
	}
	snapshotRoundTrip(t, h, link, "htb")
}

func TestSnapshotPfifoRoot(t *testing.T) {
	ns, h, link := nsLink(t)
	tcIn(t, ns, "tc qdisc add dev sh0 root handle 7: pfifo")
	snapshotRoundTrip(t, h, link, "pfifo")
}

func TestSnapshotRefuses(t *testing.T) {
	tests := []struct{ tc, want string }{
		{"tc qdisc add dev sh0 root handle 9: pfifo_fast", "pfifo_fast qdisc (handle 9:, root)"},
		{"tc qdisc add dev sh0 root handle 9: tbf rate 1mbit burst 3000 latency 10ms peakrate 2mbit mtu 1600", "tbf root with a peakrate"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			ns, h, link := nsLink(t)
			tcIn(t, ns, tt.tc)
			refused(t, h, link, tt.want)
		})
	}
}

func refused(t *testing.T, h *netlink.Handle, link netlink.Link, what string) {
	t.Helper()
	_, err := TakeSnapshot(h, link)
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
