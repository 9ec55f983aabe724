package loader

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/internal/netns"
)

// ProbeIFBRedirect finds out whether a tc program's bpf_redirect into an
// IFB device delivers: before Linux 6.4 bpf_redirect did not mark the
// packet as redirected and IFB drops every such packet (downloads via ifb
// would be black-holed). It tries it: in a private namespace a frame sent
// into one end of a veth pair is redirected from the other end's ingress
// into an IFB, whose receive counter says whether it took it. Once per
// process; never a version check.
var ProbeIFBRedirect = sync.OnceValue(probeIFBRedirect)

func probeIFBRedirect() Probe {
	var p Probe
	err := netns.RunPrivate(func() error {
		var err error
		p, err = tryIFBRedirect()
		return err
	})
	if err != nil {
		return Probe{false, fmt.Sprintf("could not try bpf_redirect into ifb: %v", err)}
	}
	return p
}

func tryIFBRedirect() (Probe, error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "p0"}, PeerName: "p1"}
	if err := netlink.LinkAdd(veth); err != nil {
		return Probe{}, fmt.Errorf("add veth: %w", err)
	}
	if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: "i0", TxQLen: 10}}); err != nil {
		return Probe{false, fmt.Sprintf("cannot make an ifb device: %v", err)}, nil
	}
	var links [3]netlink.Link
	for i, n := range []string{"p0", "p1", "i0"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			return Probe{}, err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return Probe{}, err
		}
		links[i] = l
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "shaper_probe", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, int32(links[2].Attrs().Index)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		return Probe{}, fmt.Errorf("load probe program: %w", err)
	}
	defer prog.Close()
	p1 := links[1].Attrs().Index
	qd := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p1, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := netlink.QdiscAdd(qd); err != nil {
		return Probe{}, fmt.Errorf("add clsact: %w", err)
	}
	f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: p1, Parent: netlink.HANDLE_MIN_INGRESS,
		Protocol: unix.ETH_P_ALL, Priority: 1}, Fd: prog.FD(), Name: "shaper_probe", DirectAction: true}
	if err := netlink.FilterAdd(f); err != nil {
		return Probe{}, fmt.Errorf("add filter: %w", err)
	}
	if err := sendFrame(links[0], links[1]); err != nil {
		return Probe{}, err
	}
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l, err := netlink.LinkByName("i0")
		if err != nil {
			return Probe{}, err
		}
		// IFB counts a packet received before it checks the redirect
		// mark and drops it (its own IPv6 chatter is dropped that way
		// too): what counts is that it passed one on.
		s := l.Attrs().Statistics
		if s != nil && s.TxPackets > 0 {
			return Probe{true, "bpf_redirect into ifb delivers (tried in a private netns)"}, nil
		}
	}
	return Probe{false, "bpf_redirect into ifb is dropped by this kernel (it lacks Linux 6.4's redirect mark for bpf)"}, nil
}

// sendFrame sends one Ethernet frame out of from, addressed to to.
func sendFrame(from, to netlink.Link) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	frame := make([]byte, 60)
	copy(frame[0:6], to.Attrs().HardwareAddr)
	copy(frame[6:12], from.Attrs().HardwareAddr)
	binary.BigEndian.PutUint16(frame[12:14], 0x88b5) // local experimental ethertype
	sa := &unix.SockaddrLinklayer{Ifindex: from.Attrs().Index, Halen: 6, Protocol: 0xb588}
	copy(sa.Addr[:], to.Attrs().HardwareAddr)
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		return fmt.Errorf("send probe frame: %w", err)
	}
	return nil
}
