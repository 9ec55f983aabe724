package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// TCX attaches with a bpf_link on the TCX hook (kernel 6.6+). The link is
// pinned at <PinPath>/link: an unpinned TCX link dies with its process.
// The program is appended at the chain's tail; it must return TCX_NEXT
// (-1) so that later programs and legacy clsact filters still run.
type TCX struct{}

// Name implements Attacher.
func (TCX) Name() string { return ModeTCX }

// Attach puts a.Prog on the hook. When our pinned link exists and still
// sits on this hook, its program is replaced in place (link update: no
// moment without a program); otherwise a new link is created and pinned.
func (TCX) Attach(a Attachment) error {
	if err := a.check(true); err != nil {
		return fmt.Errorf("attach tcx: %w", err)
	}
	if err := ensurePinDir(a.PinPath); err != nil {
		return fmt.Errorf("attach tcx to %s: %w", a.where(), err)
	}
	pin := filepath.Join(a.PinPath, linkPin)
	l, err := openOurLink(pin, a)
	if err != nil {
		return fmt.Errorf("attach tcx to %s: %w", a.where(), err)
	}
	if l != nil {
		defer l.Close()
		if err := l.Update(a.Prog); err != nil {
			return fmt.Errorf("attach tcx to %s: update pinned link: %w", a.where(), err)
		}
		return nil
	}
	l, err = link.AttachTCX(link.TCXOptions{
		Interface: a.Ifindex,
		Program:   a.Prog,
		Attach:    a.Dir.tcxAttachType(),
	})
	if err != nil {
		return fmt.Errorf("attach tcx to %s: %w", a.where(), err)
	}
	// Closing our handle after pinning leaves the pin as the only holder.
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		_ = l.Detach()
		return fmt.Errorf("attach tcx to %s: pin link: %w", a.where(), err)
	}
	return nil
}

// Detach removes our pinned link from the hook and its pin. Nothing pinned
// is not an error: detaching twice is fine.
func (TCX) Detach(a Attachment) error {
	if err := a.check(false); err != nil {
		return fmt.Errorf("detach tcx: %w", err)
	}
	if err := detachPinnedLink(filepath.Join(a.PinPath, linkPin)); err != nil {
		return fmt.Errorf("detach tcx from %s: %w", a.where(), err)
	}
	return nil
}

// openOurLink opens the link pinned at pin when it is a TCX link on a's
// hook. A pin that is no longer usable (its interface was deleted, or it
// belongs to another hook) is detached and removed, and nil is returned so
// that the caller creates a fresh link.
func openOurLink(pin string, a Attachment) (link.Link, error) {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// Not a link (or unreadable): move it out of the way.
		if rerr := removePin(pin); rerr != nil {
			return nil, fmt.Errorf("%w (after: %v)", rerr, err)
		}
		return nil, nil
	}
	if linkOnHook(l, a.Ifindex, a.Dir) {
		return l, nil
	}
	_ = l.Detach()
	l.Close()
	return nil, removePin(pin)
}

// linkOnHook says whether l is a TCX link attached to ifindex's dir hook.
// A link whose device went away reports ifindex 0.
func linkOnHook(l link.Link, ifindex int, dir Direction) bool {
	info, err := l.Info()
	if err != nil {
		return false
	}
	tcx := info.TCX()
	return tcx != nil && int(tcx.Ifindex) == ifindex && ebpf.AttachType(tcx.AttachType) == dir.tcxAttachType()
}

// detachPinnedLink detaches the link pinned at pin, if any, and unpins it.
// Detach (BPF_LINK_DETACH) takes it off the hook even if some other process
// still holds a file descriptor to it.
func detachPinnedLink(pin string) error {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return removePin(pin)
	}
	defer l.Close()
	if err := l.Detach(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detach link pinned at %s: %w", pin, err)
	}
	return removePin(pin)
}

// pinnedLinkID returns the id of the link pinned at pin, or 0.
func pinnedLinkID(pin string) link.ID {
	l, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		return 0
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return 0
	}
	return info.ID
}

// detachTCXProgram takes a TCX program off a hook: through its link when it
// has one (a link of a crashed run that someone still holds, or pinned
// elsewhere), else by program (attached without a link).
func detachTCXProgram(ifindex int, dir Direction, h HookProgram) error {
	if h.LinkID != 0 {
		l, err := link.NewFromID(h.LinkID)
		if err != nil {
			return fmt.Errorf("open tcx link %d: %w", h.LinkID, err)
		}
		defer l.Close()
		if err := l.Detach(); err != nil {
			return fmt.Errorf("detach tcx link %d: %w", h.LinkID, err)
		}
		return nil
	}
	p, err := ebpf.NewProgramFromID(h.ProgID)
	if err != nil {
		return fmt.Errorf("open program %d: %w", h.ProgID, err)
	}
	defer p.Close()
	err = link.RawDetachProgram(link.RawDetachProgramOptions{
		Target:  ifindex,
		Program: p,
		Attach:  dir.tcxAttachType(),
	})
	if err != nil {
		return fmt.Errorf("detach tcx program %d: %w", h.ProgID, err)
	}
	return nil
}
