package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HookProgram is one program on a tc hook of an interface: a TCX program
// or a legacy cls_bpf filter. iproute2 6.1 and bpftool 7.1 do not show TCX
// attachments, so `shaper status` shows these.
type HookProgram struct {
	Dir      Direction      `json:"direction"`
	Kind     string         `json:"kind"` // "tcx" or "tc"
	ProgID   ebpf.ProgramID `json:"prog_id"`
	ProgName string         `json:"prog_name"`
	// LinkID is the TCX bpf_link, 0 when attached without one.
	LinkID link.ID `json:"link_id,omitempty"`
	// Legacy tc only: the filter's preference, handle, name and mode.
	Prio         uint16 `json:"prio,omitempty"`
	Handle       uint32 `json:"handle,omitempty"`
	FilterName   string `json:"filter_name,omitempty"`
	DirectAction bool   `json:"direct_action,omitempty"`
	// Ours: a TCX program whose name starts with the given prefix, or a
	// filter whose name starts with FilterName (or whose program's does).
	Ours bool `json:"ours"`
}

// MarshalText writes a direction as "egress" or "ingress".
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// List returns every program on the interface's TCX hooks (in run order)
// and clsact cls_bpf filters, egress first. progPrefix says which program
// names are ours (empty: only filters named FilterName are).
func List(ifindex int, progPrefix string) ([]HookProgram, error) {
	var out []HookProgram
	for _, d := range Directions {
		tcx, err := listTCX(ifindex, d, progPrefix)
		if err != nil {
			return nil, err
		}
		tc, err := listTC(ifindex, d, progPrefix)
		if err != nil {
			return nil, err
		}
		out = append(append(out, tcx...), tc...)
	}
	return out, nil
}

// Ours is List narrowed to our programs.
func Ours(ifindex int, progPrefix string) ([]HookProgram, error) {
	all, err := List(ifindex, progPrefix)
	if err != nil {
		return nil, err
	}
	var out []HookProgram
	for _, h := range all {
		if h.Ours {
			out = append(out, h)
		}
	}
	return out, nil
}

// Seams for the host test of tcxAbsent's callers: a kernel without TCX
// cannot be had here, so its EINVAL is injected.
var (
	queryTCX = link.QueryPrograms
	haveTCX  = func() bool { return probeTCXCached().Supported }
)

// tcxAbsent says whether a failed TCX query only means that this kernel has
// no TCX, so nothing can be attached there. Before 6.6 the kernel does not
// know the TCX attach types and answers the query with a plain EINVAL, not
// "not supported"; EINVAL counts as "nothing attached" only where the probe
// confirms that TCX is missing. Where TCX exists it is a real error.
func tcxAbsent(err error) bool {
	if errors.Is(err, ebpf.ErrNotSupported) {
		return true
	}
	return errors.Is(err, unix.EINVAL) && !haveTCX()
}

func listTCX(ifindex int, d Direction, prefix string) ([]HookProgram, error) {
	res, err := queryTCX(link.QueryOptions{Target: ifindex, Attach: d.tcxAttachType()})
	if err != nil && tcxAbsent(err) {
		return nil, nil // no TCX on this kernel: nothing can be there
	}
	if err != nil {
		return nil, fmt.Errorf("query tcx %s programs of ifindex %d: %w", d, ifindex, err)
	}
	var out []HookProgram
	for _, p := range res.Programs {
		lid, _ := p.LinkID()
		name := progName(p.ID)
		out = append(out, HookProgram{
			Dir: d, Kind: ModeTCX, ProgID: p.ID, ProgName: name, LinkID: lid,
			Ours: hasPrefix(name, prefix),
		})
	}
	return out, nil
}

func listTC(ifindex int, d Direction, prefix string) ([]HookProgram, error) {
	fs, err := bpfFilters(ifindex, d)
	if err != nil {
		return nil, fmt.Errorf("ifindex %d: %w", ifindex, err)
	}
	var out []HookProgram
	for _, f := range fs {
		id := ebpf.ProgramID(f.Id)
		name := progName(id)
		out = append(out, HookProgram{
			Dir: d, Kind: ModeTC, ProgID: id, ProgName: name,
			Prio: f.Priority, Handle: f.Handle, FilterName: f.Name, DirectAction: f.DirectAction,
			Ours: strings.HasPrefix(f.Name, FilterName) || hasPrefix(name, prefix),
		})
	}
	return out, nil
}

func hasPrefix(name, prefix string) bool { return prefix != "" && strings.HasPrefix(name, prefix) }

// progName looks a program's name up; "" when it is gone or unreadable.
func progName(id ebpf.ProgramID) string {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return ""
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

// RemoveStale removes everything of ours on a.Dir of a.Ifindex except the
// current attachment made by current (call it after current.Attach(a)): a
// cls_bpf filter left after switching to tcx, a TCX link left after
// switching to tc, a TCX link of a crashed run that something still holds,
// and the other mode's pin. It returns what it removed.
func RemoveStale(current Attacher, a Attachment, progPrefix string) ([]HookProgram, error) {
	if err := a.check(false); err != nil {
		return nil, fmt.Errorf("remove stale: %w", err)
	}
	var keepLink link.ID
	keepFilter := current.Name() == ModeTC
	if current.Name() == ModeTCX {
		keepLink = pinnedLinkID(filepath.Join(a.PinPath, linkPin))
	}
	ours, err := Ours(a.Ifindex, progPrefix)
	if err != nil {
		return nil, fmt.Errorf("remove stale from %s: %w", a.where(), err)
	}
	var removed []HookProgram
	for _, h := range ours {
		if h.Dir != a.Dir || isCurrent(h, keepLink, keepFilter) {
			continue
		}
		if err := removeHookProgram(a.Ifindex, h); err != nil {
			return removed, fmt.Errorf("remove stale from %s: %w", a.where(), err)
		}
		removed = append(removed, h)
	}
	if err := removeOtherModePin(current.Name(), a); err != nil {
		return removed, fmt.Errorf("remove stale from %s: %w", a.where(), err)
	}
	return removed, nil
}

func isCurrent(h HookProgram, keepLink link.ID, keepFilter bool) bool {
	if h.Kind == ModeTCX {
		return keepLink != 0 && h.LinkID == keepLink
	}
	return keepFilter && h.Prio == FilterPrio && h.Handle == FilterHandle && strings.HasPrefix(h.FilterName, FilterName)
}

func removeHookProgram(ifindex int, h HookProgram) error {
	if h.Kind == ModeTCX {
		return detachTCXProgram(ifindex, h.Dir, h)
	}
	f := ourFilter(ifindex, h.Dir)
	f.Priority, f.Handle = h.Prio, h.Handle
	return delFilter(f)
}

// removeOtherModePin drops the pin the other attacher would have left, and
// the clsact qdisc when it was ours and is now unused.
func removeOtherModePin(mode string, a Attachment) error {
	if mode == ModeTC {
		return detachPinnedLink(filepath.Join(a.PinPath, linkPin))
	}
	if err := removePin(filepath.Join(a.PinPath, progPin)); err != nil {
		return err
	}
	return releaseClsact(a.Ifindex, ifaceDir(a.PinPath))
}

// DetachAll removes our link and filter from one hook of the interface
// named ifname (in the caller's current netns; netnsName only names the
// pins), unpins them, removes the pin directory, and deletes the clsact
// qdisc if we created it and nothing else uses it. An interface that is
// gone leaves only pins to remove.
func DetachAll(netnsName, ifname string, dir Direction) error {
	pin := PinDir(netnsName, ifname, dir)
	ifindex := 0
	l, err := netlink.LinkByName(ifname)
	switch {
	case err == nil:
		ifindex = l.Attrs().Index
	case !errors.As(err, &netlink.LinkNotFoundError{}):
		return fmt.Errorf("detach from %s %s: %w", ifname, dir, err)
	}
	a := Attachment{Ifindex: ifindex, Ifname: ifname, Dir: dir, PinPath: pin}
	if err := detachPinnedLink(filepath.Join(pin, linkPin)); err != nil {
		return fmt.Errorf("detach from %s: %w", a.where(), err)
	}
	if ifindex > 0 {
		if err := (TC{}).Detach(a); err != nil {
			return err
		}
	} else if err := os.RemoveAll(filepath.Join(ifaceDir(pin), clsactMarker)); err != nil {
		return fmt.Errorf("detach from %s: %w", a.where(), err)
	}
	if err := os.RemoveAll(pin); err != nil {
		return fmt.Errorf("detach from %s: remove pin dir: %w", a.where(), err)
	}
	// Parents go when empty (the other direction may still be pinned).
	if err := removeSharedIfUnused(ifaceDir(pin)); err != nil {
		return fmt.Errorf("detach from %s: %w", a.where(), err)
	}
	_ = os.Remove(ifaceDir(pin))
	_ = os.Remove(filepath.Dir(ifaceDir(pin)))
	return nil
}
