package loader

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// Our test programs are named with this prefix; foreign ones are not.
const testPrefix = "shaper_"

// newCounter makes a one-slot u64 array a counting program adds to.
func newCounter(t *testing.T) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatalf("create counter map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func readCounter(t *testing.T, m *ebpf.Map) uint64 {
	t.Helper()
	var v []byte
	if err := m.Lookup(uint32(0), &v); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return binary.NativeEndian.Uint64(v)
}

// newProg loads a SchedCLS program that returns ret (-1 is TCX_NEXT) and,
// when counter is not nil, first adds one to it so a test sees it ran.
func newProg(t *testing.T, name string, counter *ebpf.Map, ret int32) *ebpf.Program {
	t.Helper()
	var insns asm.Instructions
	if counter != nil {
		insns = asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word), // key = 0
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, counter.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		}
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, ret).WithSymbol("out"), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: ebpf.SchedCLS, License: "GPL", Instructions: insns,
	})
	if err != nil {
		t.Fatalf("load program %s: %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func progID(t *testing.T, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatalf("program info: %v", err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("program has no id")
	}
	return id
}

// in runs fn inside namespace ns and fails the test on error.
func in(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := labtest.In(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// newNetnsDummy makes a namespace holding a link named d0 (see addDummy) and
// returns the namespace and the link's ifindex. Pins under the namespace's
// pin folder are removed at cleanup.
func newNetnsDummy(t *testing.T) (string, int) {
	t.Helper()
	ns := labtest.Netns(t, "ldr")
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(pinRoot, ns)) })
	var ifindex int
	in(t, ns, func() (err error) {
		ifindex, err = addDummy("d0")
		return err
	})
	return ns, ifindex
}

// addDummy adds a link in the current netns and returns its ifindex. The
// kernel here has no dummy driver: it is a veth with its peer (name+"p")
// in the same namespace.
func addDummy(name string) (int, error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		return 0, err
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

func delLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// newVethPair makes two namespaces joined by a veth va (198.18.0.1/30, in
// the first) <-> vb (198.18.0.2/30, in the second), both up.
func newVethPair(t *testing.T) (nsA, nsB string, ifindexA int) {
	t.Helper()
	nsA, nsB = labtest.Netns(t, "ldra"), labtest.Netns(t, "ldrb")
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(pinRoot, nsA)) })
	hB, err := netns.GetFromName(nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer hB.Close()
	in(t, nsA, func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb", PeerNamespace: netlink.NsFd(hB)}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		var err error
		ifindexA, err = upWithAddr("va", "198.18.0.1/30")
		return err
	})
	in(t, nsB, func() error {
		_, err := upWithAddr("vb", "198.18.0.2/30")
		return err
	})
	return nsA, nsB, ifindexA
}

func upWithAddr(name, cidr string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, err
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return 0, err
	}
	if err := netlink.AddrAdd(l, addr); err != nil {
		return 0, err
	}
	return l.Attrs().Index, netlink.LinkSetUp(l)
}

// tcxProgs lists the program ids on a TCX hook, in run order.
func tcxProgs(t *testing.T, ifindex int, d Direction) []link.AttachedProgram {
	t.Helper()
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: d.tcxAttachType()})
	if err != nil {
		t.Fatalf("query tcx: %v", err)
	}
	return res.Programs
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: want gone, stat says %v", path, err)
	}
}

func mustExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: want present: %v", path, err)
	}
}
