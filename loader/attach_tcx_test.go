package loader

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestTCXAttachPinUpdateDetach(t *testing.T) {
	have := tcxHere(t)
	ns, ifindex := newNetnsDummy(t)
	p1 := newProg(t, "shaper_one", nil, -1)
	p2 := newProg(t, "shaper_two", nil, -1)
	id1, id2 := progID(t, p1), progID(t, p2)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p1, PinPath: PinDir(ns, "d0", Egress)}
	pin := filepath.Join(a.PinPath, linkPin)
	if !have {
		in(t, ns, func() error { return tcxRefused(t, a) })
		return
	}

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
	have := tcxHere(t)
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_one", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Ingress, Prog: p, PinPath: PinDir(ns, "d0", Ingress)}
	if !have {
		in(t, ns, func() error { return tcxRefused(t, a) })
		return
	}
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

// tcxRefused checks, on a kernel without TCX, that a tcx attach fails
// saying so and leaves nothing behind, and that the hooks still list (the
// TCX query's EINVAL there is "nothing attached").
func tcxRefused(t *testing.T, a Attachment) error {
	t.Helper()
	err := (TCX{}).Attach(a)
	if !errors.Is(err, ebpf.ErrNotSupported) {
		t.Errorf("tcx attach without tcx: %v, want ErrNotSupported", err)
	}
	mustNotExist(t, filepath.Join(a.PinPath, linkPin))
	all, err := List(a.Ifindex, testPrefix)
	if err != nil {
		return err
	}
	if len(all) != 0 {
		t.Errorf("List after a refused tcx attach: %+v", all)
	}
	return (TCX{}).Detach(a) // nothing pinned: fine
}

// TCX programs returning TCX_NEXT let the next program run: ours (pinned,
// first) and a foreign one (second) both count real traffic. Without TCX
// the same holds on clsact: a foreign cls_bpf filter first, ours (the
// fallback's filter) after it, both returning TC_ACT_UNSPEC.
func TestTCXNextLetsSecondProgramRun(t *testing.T) {
	have := tcxHere(t)
	nsA, nsB, ifindex := newVethPair(t)
	c1, c2 := newCounter(t), newCounter(t)
	ours := newProg(t, "shaper_count", c1, -1)
	other := newProg(t, "other_count", c2, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "va", Dir: Egress, Prog: ours, PinPath: PinDir(nsA, "va", Egress)}
	att := Attacher(TCX{})
	if !have {
		att = TC{}
	}
	in(t, nsA, func() error {
		if err := att.Attach(a); err != nil {
			return err
		}
		if !have {
			return addForeignFilter(ifindex, other)
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
	t.Cleanup(func() { in(t, nsA, func() error { return att.Detach(a) }) })

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
		t.Errorf("packets counted over 3 pings (%s): ours %d, second %d; want both >= 3", att.Name(), d1, d2)
	}
}

// addForeignFilter puts prog on ifindex's clsact egress as someone else's
// direct-action filter, at a preference that runs before ours.
func addForeignFilter(ifindex int, prog *ebpf.Program) error {
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex, Parent: clsactParent(Egress), Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL,
		},
		Fd: prog.FD(), Name: "other", DirectAction: true,
	}
	if err := netlink.FilterAdd(f); err != nil {
		return fmt.Errorf("add foreign cls_bpf filter: %w", err)
	}
	return nil
}
