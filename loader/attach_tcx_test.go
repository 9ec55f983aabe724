package loader

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
)

func TestTCXAttachPinUpdateDetach(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p1 := newProg(t, "shaper_one", nil, -1)
	p2 := newProg(t, "shaper_two", nil, -1)
	id1, id2 := progID(t, p1), progID(t, p2)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p1, PinPath: PinDir(ns, "d0", Egress)}
	pin := filepath.Join(a.PinPath, linkPin)

	in(t, ns, func() error {
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		// Our Go handle of the program goes; the pinned link keeps it on.
		p1.Close()
		got := tcxProgs(t, ifindex, Egress)
		if len(got) != 1 || got[0].ID != id1 {
			t.Fatalf("after attach: tcx egress has %+v, want program %d", got, id1)
		}
		linkID, ok := got[0].LinkID()
		if !ok {
			t.Fatal("attached without a link")
		}
		if len(tcxProgs(t, ifindex, Ingress)) != 0 {
			t.Error("ingress hook is not empty")
		}

		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			t.Fatalf("open pinned link: %v", err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil || info.ID != linkID || info.Program != id1 {
			t.Fatalf("pinned link info %+v (err %v), want link %d program %d", info, err, linkID, id1)
		}

		// Re-attach: same link, new program, nothing else on the hook.
		a.Prog = p2
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		got = tcxProgs(t, ifindex, Egress)
		if len(got) != 1 || got[0].ID != id2 {
			t.Fatalf("after update: tcx egress has %+v, want only program %d", got, id2)
		}
		if lid, _ := got[0].LinkID(); lid != linkID {
			t.Errorf("update made link %d, want the same link %d", lid, linkID)
		}

		if err := (TCX{}).Detach(a); err != nil {
			return err
		}
		if got := tcxProgs(t, ifindex, Egress); len(got) != 0 {
			t.Errorf("after detach: tcx egress still has %+v", got)
		}
		mustNotExist(t, pin)
		return (TCX{}).Detach(a) // twice is fine
	})
}

// A pin whose interface was deleted and made again (same name, new
// ifindex) is replaced by a fresh link rather than updated.
func TestTCXReattachAfterInterfaceRecreated(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_one", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Ingress, Prog: p, PinPath: PinDir(ns, "d0", Ingress)}
	in(t, ns, func() error {
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		if err := delLink("d0"); err != nil {
			return err
		}
		idx2, err := addDummy("d0")
		if err != nil {
			return err
		}
		a.Ifindex = idx2
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		if got := tcxProgs(t, idx2, Ingress); len(got) != 1 || got[0].ID != progID(t, p) {
			t.Errorf("after re-attach to the new d0: %+v", got)
		}
		return (TCX{}).Detach(a)
	})
}

// TCX programs returning TCX_NEXT let the next program run: ours (pinned,
// first) and a foreign one (second) both count real traffic.
func TestTCXNextLetsSecondProgramRun(t *testing.T) {
	nsA, nsB, ifindex := newVethPair(t)
	c1, c2 := newCounter(t), newCounter(t)
	ours := newProg(t, "shaper_count", c1, -1)
	other := newProg(t, "other_count", c2, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "va", Dir: Egress, Prog: ours, PinPath: PinDir(nsA, "va", Egress)}
	in(t, nsA, func() error {
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: other, Attach: Egress.tcxAttachType()})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		got := tcxProgs(t, ifindex, Egress)
		if len(got) != 2 || got[0].ID != progID(t, ours) || got[1].ID != progID(t, other) {
			t.Errorf("tcx egress order %+v, want ours then the other", got)
		}
		return nil
	})
	t.Cleanup(func() { in(t, nsA, func() error { return (TCX{}).Detach(a) }) })

	// Packets sent before both programs were on (IPv6 neighbour discovery)
	// count in one only: compare the increase over the pings.
	b1, b2 := readCounter(t, c1), readCounter(t, c2)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nsA,
		"ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.0.2").CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s -> %s through both programs: %v\n%s", nsA, nsB, err, out)
	}
	d1, d2 := readCounter(t, c1)-b1, readCounter(t, c2)-b2
	if d1 < 3 || d2 < 3 {
		t.Errorf("packets counted over 3 pings: ours %d, second %d; want both >= 3", d1, d2)
	}
}
