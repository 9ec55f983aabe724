package loader

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// checkOneFilter asserts that the hook holds exactly our filter, running
// prog id want, in direct-action mode.
func checkOneFilter(t *testing.T, ifindex int, d Direction, want ebpf.ProgramID) {
	t.Helper()
	fs, err := netlink.FilterList(linkRef(ifindex), clsactParent(d))
	if err != nil {
		t.Fatalf("list %s filters: %v", d, err)
	}
	if len(fs) != 1 {
		t.Fatalf("%s: %d filters, want exactly ours: %+v", d, len(fs), fs)
	}
	f, ok := fs[0].(*netlink.BpfFilter)
	if !ok {
		t.Fatalf("%s: filter is %s, want bpf", d, fs[0].Type())
	}
	if f.Name != FilterName || f.Priority != FilterPrio || f.Handle != FilterHandle || !f.DirectAction {
		t.Errorf("%s filter: name %q prio %#x handle %#x da %v; want %q %#x %#x true",
			d, f.Name, f.Priority, f.Handle, f.DirectAction, FilterName, FilterPrio, FilterHandle)
	}
	if ebpf.ProgramID(f.Id) != want {
		t.Errorf("%s filter runs program %d, want %d", d, f.Id, want)
	}
}

func mustClsact(t *testing.T, ifindex int, want bool) {
	t.Helper()
	got, err := hasClsact(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("clsact present = %v, want %v", got, want)
	}
}

func TestTCAttachReplaceDetach(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p1 := newProg(t, "shaper_one", nil, -1)
	p2 := newProg(t, "shaper_two", nil, -1)
	eg := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p1, PinPath: PinDir(ns, "d0", Egress)}
	ig := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Ingress, Prog: p1, PinPath: PinDir(ns, "d0", Ingress)}
	marker := filepath.Join(ifaceDir(eg.PinPath), clsactMarker)

	in(t, ns, func() error {
		mustClsact(t, ifindex, false)
		if err := (TC{}).Attach(eg); err != nil {
			return err
		}
		mustClsact(t, ifindex, true)
		mustExist(t, marker)
		mustExist(t, filepath.Join(eg.PinPath, progPin))
		checkOneFilter(t, ifindex, Egress, progID(t, p1))

		// Replace keeps exactly one filter, now running p2.
		eg.Prog = p2
		if err := (TC{}).Attach(eg); err != nil {
			return err
		}
		checkOneFilter(t, ifindex, Egress, progID(t, p2))
		if err := (TC{}).Attach(ig); err != nil {
			return err
		}
		checkOneFilter(t, ifindex, Ingress, progID(t, p1))

		// clsact stays while the ingress filter uses it.
		if err := (TC{}).Detach(eg); err != nil {
			return err
		}
		mustClsact(t, ifindex, true)
		mustNotExist(t, filepath.Join(eg.PinPath, progPin))
		if err := (TC{}).Detach(ig); err != nil {
			return err
		}
		mustClsact(t, ifindex, false)
		mustNotExist(t, marker)
		return (TC{}).Detach(ig) // twice is fine
	})
}

func TestTCKeepsClsactItDidNotCreate(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_one", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p, PinPath: PinDir(ns, "d0", Egress)}
	in(t, ns, func() error {
		if err := netlink.QdiscAdd(clsactQdisc(ifindex)); err != nil {
			return err
		}
		if err := (TC{}).Attach(a); err != nil {
			return err
		}
		mustNotExist(t, filepath.Join(ifaceDir(a.PinPath), clsactMarker))
		checkOneFilter(t, ifindex, Egress, progID(t, p))
		if err := (TC{}).Detach(a); err != nil {
			return err
		}
		mustClsact(t, ifindex, true)
		fs, err := netlink.FilterList(linkRef(ifindex), clsactParent(Egress))
		if err != nil || len(fs) != 0 {
			t.Errorf("after detach: filters %+v (err %v), want none", fs, err)
		}
		return nil
	})
}
