package loader

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/shaperdev/shaper/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Probe is the outcome of trying TCX on this kernel.
type Probe struct {
	Supported bool
	Reason    string // what was tried and what happened, for the user
}

// ProbeTCX finds out whether TCX attachments work here by doing one: a
// tiny program is attached to the loopback device of a private, temporary
// network namespace. Where no namespace can be made, it falls back to the
// kernel's own signature of TCX support (attaching to a device that does
// not exist answers ENODEV only when TCX is there). Never a version check.
// The answer is computed once per process.
var ProbeTCX = sync.OnceValue(probeTCX)

func probeTCX() Probe {
	if err := features.HaveProgramType(ebpf.SchedCLS); err != nil {
		return Probe{false, fmt.Sprintf("cannot load a SchedCLS program: %v", err)}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "shaper_probe",
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}, // TCX_NEXT
	})
	if err != nil {
		return Probe{false, fmt.Sprintf("load probe program: %v", err)}
	}
	defer prog.Close()

	err = attachInPrivateNetns(prog)
	if err == nil {
		return Probe{true, "tcx works: attached a test program to lo in a private netns"}
	}
	if !errors.Is(err, errNoPrivateNetns) {
		return Probe{false, fmt.Sprintf("tcx attach to lo in a private netns failed: %v", err)}
	}
	return probeByMissingDevice(prog, err)
}

var errNoPrivateNetns = errors.New("cannot create a private netns")

// attachInPrivateNetns attaches prog to lo in a namespace of its own, on an
// OS thread that is thrown away afterwards (and the namespace with it).
func attachInPrivateNetns(prog *ebpf.Program) error {
	entered := false
	err := netns.RunPrivate(func() error {
		entered = true
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("%w: find lo: %v", errNoPrivateNetns, err)
		}
		l, err := link.AttachTCX(link.TCXOptions{
			Interface: lo.Attrs().Index,
			Program:   prog,
			Attach:    ebpf.AttachTCXIngress,
		})
		if err != nil {
			return err
		}
		return l.Close()
	})
	if err != nil && !entered {
		return fmt.Errorf("%w: %v", errNoPrivateNetns, err)
	}
	return err
}

// probeByMissingDevice attaches to an ifindex that cannot exist: a kernel
// with TCX checks the device and says ENODEV, one without rejects the
// attach type first.
func probeByMissingDevice(prog *ebpf.Program, why error) Probe {
	l, err := link.AttachTCX(link.TCXOptions{
		Interface: math.MaxInt32, // no such device
		Program:   prog,
		Attach:    ebpf.AttachTCXIngress,
	})
	if err == nil {
		l.Close()
		return Probe{true, "tcx works (attach to a missing device succeeded?)"}
	}
	if errors.Is(err, unix.ENODEV) {
		return Probe{true, fmt.Sprintf("tcx supported: kernel checked the device (ENODEV) (%v)", why)}
	}
	return Probe{false, fmt.Sprintf("tcx not supported: %v (%v)", err, why)}
}
