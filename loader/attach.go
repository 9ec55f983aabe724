package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
)

// Namespaces: every function in this file set acts in the network namespace
// of the calling OS thread. Callers that work on a named namespace lock the
// OS thread and enter the namespace first (labtest.In does both); ifindexes
// are those of that namespace. bpffs pins are not per network namespace,
// which is why PinDir puts the namespace name in the path.

// Direction is the tc hook a program is attached to.
type Direction int

const (
	// Egress is the transmit hook (upload).
	Egress Direction = iota
	// Ingress is the receive hook (download).
	Ingress
)

// Directions lists both hooks, egress first.
var Directions = []Direction{Egress, Ingress}

func (d Direction) String() string {
	switch d {
	case Egress:
		return "egress"
	case Ingress:
		return "ingress"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

func (d Direction) valid() bool { return d == Egress || d == Ingress }

// tcxAttachType maps a direction to its TCX attach type.
func (d Direction) tcxAttachType() ebpf.AttachType {
	if d == Ingress {
		return ebpf.AttachTCXIngress
	}
	return ebpf.AttachTCXEgress
}

// Attachment identifies one program on one hook of one interface.
type Attachment struct {
	Ifindex int    // in the caller's current network namespace
	Ifname  string // for messages only
	Dir     Direction
	Prog    *ebpf.Program // a SchedCLS program; not needed by Detach
	// PinPath is the directory for this hook's pins, normally
	// PinDir(netns, ifname, dir). The tcx attacher pins its link there as
	// "link", the tc attacher its program as "prog"; the parent directory
	// (the interface's) holds the marker saying clsact was created by us.
	PinPath string
}

// Attacher puts a program on a tc hook and takes it off again, so that the
// attachment outlives the process (pinned) and re-attaching replaces the
// program without a gap.
type Attacher interface {
	Name() string // "tcx" or "tc"
	Attach(a Attachment) error
	Detach(a Attachment) error
}

// Modes accepted by Choose.
const (
	ModeAuto = "auto"
	ModeTCX  = "tcx"
	ModeTC   = "tc"
)

// Choose returns the attacher for mode: "tcx", "tc", or "auto" (also the
// empty string), which probes TCX by trying it and falls back to tc.
func Choose(mode string) (Attacher, error) {
	a, _, err := ChooseWithReason(mode)
	return a, err
}

// ChooseWithReason is Choose that also says why that attacher won, for logs
// and `shaper status`.
func ChooseWithReason(mode string) (Attacher, string, error) {
	m, err := parseMode(mode)
	if err != nil {
		return nil, "", err
	}
	switch m {
	case ModeTCX:
		return TCX{}, "tcx requested", nil
	case ModeTC:
		return TC{}, "tc requested", nil
	}
	p := probeTCXCached()
	if p.Supported {
		return TCX{}, "auto: " + p.Reason, nil
	}
	return TC{}, "auto: falling back to legacy tc (clsact + cls_bpf): " + p.Reason, nil
}

// parseMode normalises an attach mode; anything unknown is a BadInput error.
func parseMode(mode string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(mode)); m {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeTCX, ModeTC:
		return m, nil
	}
	return "", badInput(fmt.Sprintf("unknown attach mode %q: use auto, tcx or tc", mode))
}

// inputError is a mistake in what the user asked for (exit code 2).
type inputError struct{ msg string }

func (e inputError) Error() string  { return e.msg }
func (e inputError) BadInput() bool { return true }

func badInput(msg string) error { return inputError{msg} }

// check validates what every attacher needs before touching the kernel.
func (a Attachment) check(needProg bool) error {
	switch {
	case a.Ifindex <= 0:
		return fmt.Errorf("interface %q: invalid ifindex %d", a.Ifname, a.Ifindex)
	case !a.Dir.valid():
		return fmt.Errorf("interface %q: invalid %s", a.Ifname, a.Dir)
	case a.PinPath == "":
		return fmt.Errorf("interface %q %s: empty pin path", a.Ifname, a.Dir)
	}
	if !needProg {
		return nil
	}
	if a.Prog == nil {
		return fmt.Errorf("interface %q %s: no program", a.Ifname, a.Dir)
	}
	if t := a.Prog.Type(); t != ebpf.SchedCLS {
		return fmt.Errorf("interface %q %s: program type %s, want SchedCLS", a.Ifname, a.Dir, t)
	}
	return nil
}

// where names the hook in error messages.
func (a Attachment) where() string {
	name := a.Ifname
	if name == "" {
		name = fmt.Sprintf("ifindex %d", a.Ifindex)
	}
	return name + " " + a.Dir.String()
}

// removePin removes a pin file; a missing one is fine.
func removePin(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin %s: %w", path, err)
	}
	return nil
}
