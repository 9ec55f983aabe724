package loader

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// kinds summarises hook programs as "kind/dir/name/ours" for comparison.
func kinds(hs []HookProgram) map[string]bool {
	m := map[string]bool{}
	for _, h := range hs {
		m[h.Kind+"/"+h.Dir.String()+"/"+h.ProgName] = h.Ours
	}
	return m
}

func TestListAndRemoveStaleAcrossModes(t *testing.T) {
	if !tcxHere(t) {
		testListAndRemoveStaleClsact(t)
		return
	}
	ns, ifindex := newNetnsDummy(t)
	pTC := newProg(t, "shaper_tc", nil, -1)
	pTCX := newProg(t, "shaper_tcx", nil, -1)
	crashed := newProg(t, "shaper_crashed", nil, -1)
	foreign := newProg(t, "foreign", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: pTC, PinPath: PinDir(ns, "d0", Egress)}

	in(t, ns, func() error {
		// Someone else's TCX program, and our link of a "crashed" run that
		// is not pinned (still held open here).
		lf, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: foreign, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			return err
		}
		defer lf.Close()
		lc, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: crashed, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			return err
		}
		defer lc.Close()

		// tc first.
		if err := (TC{}).Attach(a); err != nil {
			return err
		}
		all, err := List(ifindex, testPrefix)
		if err != nil {
			return err
		}
		want := map[string]bool{"tcx/egress/foreign": false, "tcx/egress/shaper_crashed": true, "tc/egress/shaper_tc": true}
		if got := kinds(all); !sameMap(got, want) {
			t.Errorf("List = %v, want %v", got, want)
		}
		removed, err := RemoveStale(TC{}, a, testPrefix)
		if err != nil {
			return err
		}
		if got := kinds(removed); !sameMap(got, map[string]bool{"tcx/egress/shaper_crashed": true}) {
			t.Errorf("RemoveStale(tc) removed %v, want the crashed tcx link", got)
		}

		// Switch to tcx: the cls_bpf filter, its pin and our clsact go.
		a.Prog = pTCX
		if err := (TCX{}).Attach(a); err != nil {
			return err
		}
		removed, err = RemoveStale(TCX{}, a, testPrefix)
		if err != nil {
			return err
		}
		if got := kinds(removed); !sameMap(got, map[string]bool{"tc/egress/shaper_tc": true}) {
			t.Errorf("RemoveStale(tcx) removed %v, want the tc filter", got)
		}
		mustClsact(t, ifindex, false)
		mustNotExist(t, filepath.Join(a.PinPath, progPin))
		ours, err := Ours(ifindex, testPrefix)
		if err != nil {
			return err
		}
		if got := kinds(ours); !sameMap(got, map[string]bool{"tcx/egress/shaper_tcx": true}) {
			t.Errorf("Ours after switch to tcx = %v", got)
		}

		// And back to tc: the pinned link goes, the foreign program stays.
		a.Prog = pTC
		if err := (TC{}).Attach(a); err != nil {
			return err
		}
		if _, err := RemoveStale(TC{}, a, testPrefix); err != nil {
			return err
		}
		mustNotExist(t, filepath.Join(a.PinPath, linkPin))
		all, err = List(ifindex, testPrefix)
		if err != nil {
			return err
		}
		want = map[string]bool{"tcx/egress/foreign": false, "tc/egress/shaper_tc": true}
		if got := kinds(all); !sameMap(got, want) {
			t.Errorf("List after switch back to tc = %v, want %v", got, want)
		}
		return (TC{}).Detach(a)
	})
}

// Without TCX (kernels before 6.6) List and RemoveStale see only clsact:
// a foreign filter is listed as not ours and stays, a stale filter of ours
// in another slot goes, the current one stays.
func testListAndRemoveStaleClsact(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_tc", nil, -1)
	stale := newProg(t, "shaper_stale", nil, -1)
	foreign := newProg(t, "foreign", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p, PinPath: PinDir(ns, "d0", Egress)}
	in(t, ns, func() error {
		if err := (TC{}).Attach(a); err != nil {
			return err
		}
		if err := addForeignFilter(ifindex, foreign); err != nil {
			return err
		}
		f := ourFilter(ifindex, Egress)
		f.Priority, f.Fd = 2, stale.FD()
		if err := netlink.FilterAdd(f); err != nil {
			return fmt.Errorf("add stale filter: %w", err)
		}
		all, err := List(ifindex, testPrefix)
		if err != nil {
			return err
		}
		want := map[string]bool{"tc/egress/foreign": false, "tc/egress/shaper_stale": true, "tc/egress/shaper_tc": true}
		if got := kinds(all); !sameMap(got, want) {
			t.Errorf("List = %v, want %v", got, want)
		}
		removed, err := RemoveStale(TC{}, a, testPrefix)
		if err != nil {
			return err
		}
		if got := kinds(removed); !sameMap(got, map[string]bool{"tc/egress/shaper_stale": true}) {
			t.Errorf("RemoveStale(tc) removed %v, want the stale filter", got)
		}
		all, err = List(ifindex, testPrefix)
		if err != nil {
			return err
		}
		want = map[string]bool{"tc/egress/foreign": false, "tc/egress/shaper_tc": true}
		if got := kinds(all); !sameMap(got, want) {
			t.Errorf("List after RemoveStale = %v, want %v", got, want)
		}
		return (TC{}).Detach(a)
	})
}

func TestDetachAll(t *testing.T) {
	egAtt := Attacher(TC{})
	if tcxHere(t) {
		egAtt = TCX{}
	}
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_one", nil, -1)
	eg := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p, PinPath: PinDir(ns, "d0", Egress)}
	ig := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Ingress, Prog: p, PinPath: PinDir(ns, "d0", Ingress)}
	in(t, ns, func() error {
		if err := egAtt.Attach(eg); err != nil {
			return err
		}
		if err := (TC{}).Attach(ig); err != nil {
			return err
		}
		for _, d := range Directions {
			if err := DetachAll(ns, "d0", d); err != nil {
				return err
			}
		}
		all, err := List(ifindex, testPrefix)
		if err != nil {
			return err
		}
		if len(all) != 0 {
			t.Errorf("after DetachAll: %+v", all)
		}
		mustClsact(t, ifindex, false)
		mustNotExist(t, ifaceDir(eg.PinPath))
		// Gone interface: only pins to remove, no error.
		if err := egAtt.Attach(eg); err != nil {
			return err
		}
		if err := delLink("d0"); err != nil {
			return err
		}
		if err := DetachAll(ns, "d0", Egress); err != nil {
			return err
		}
		mustNotExist(t, ifaceDir(eg.PinPath))
		return nil
	})
}

func sameMap(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
