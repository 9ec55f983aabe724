package shaper

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Restore puts back what the snapshot recorded. The egress tree: it
// deletes the current root (shaper's or any other) and, unless the
// snapshot is the kernel default, creates the saved tree again, object by
// object as the kernel dumped it. The ingress/clsact hook, which shaper
// never replaces: it puts back any saved filter (or the hook's qdisc) that
// is missing now and leaves the rest alone. A nil snapshot means the default.
func Restore(h *netlink.Handle, link netlink.Link, snap *Snapshot) error {
	name, idx := link.Attrs().Name, link.Attrs().Index
	if snap != nil && snap.Version < snapshotVersion && snap.Kind != KindDefault {
		return fmt.Errorf("restore %s: its %s tree was saved by an older shaper in a form this one cannot replay: "+
			"remove shaper's tree with `tc qdisc del dev %s root` and set up the old one again by hand", name, snap.Kind, name)
	}
	if err := inLinkNetns(link); err != nil {
		return err
	}
	if err := deleteRoot(h, link); err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	if snap == nil {
		return nil
	}
	if snap.Kind != KindDefault {
		for _, so := range snap.Tree {
			if err := replay(idx, so); err != nil {
				// Half a tree shapes in ways nobody asked for: leave the
				// kernel's default root instead, and say so.
				if derr := deleteRoot(h, link); derr != nil {
					err = errors.Join(err, derr)
				}
				return fmt.Errorf("restore %s: %w (the interface is left with the kernel's default qdisc)", name, err)
			}
		}
	}
	if err := restoreHook(idx, snap.Hook); err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	return nil
}

// deleteRoot deletes the interface's root qdisc, whatever it is; the
// kernel then gives the device its default one.
func deleteRoot(h *netlink.Handle, link netlink.Link) error {
	st, err := readTree(h, link)
	if err != nil || st.Root.IsDefault() {
		return err
	}
	del := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: st.Root.Handle, Parent: netlink.HANDLE_ROOT}, QdiscType: st.Root.Kind}
	if err := h.QdiscDel(del); err != nil {
		return fmt.Errorf("delete root %s: %w", st.Root.Kind, err)
	}
	return nil
}

var createMsg = map[string]int{"qdisc": unix.RTM_NEWQDISC, "class": unix.RTM_NEWTCLASS, "filter": unix.RTM_NEWTFILTER}

// replay creates one saved object on the interface.
func replay(idx int, so SavedObject) error {
	o, err := parseTC(so.Msg)
	if err != nil {
		return fmt.Errorf("saved %s: %w", so.Desc, err)
	}
	msg, ok := createMsg[so.Type]
	if !ok {
		return fmt.Errorf("saved %s: unknown object type %q", so.Desc, so.Type)
	}
	o.Ifindex = int32(idx)
	if err := sendTC(msg, o); err != nil {
		return fmt.Errorf("add %s: %w", so.Desc, err)
	}
	return nil
}

// filterKey identifies a filter on a hook: parent, priority and protocol,
// chain, handle.
type filterKey struct {
	parent, info, handle uint32
	chain                string
}

func keyOf(o tcObject) filterKey {
	return filterKey{o.Parent, o.Info, o.Handle, string(o.attr(tcaChain))}
}

// restoreHook puts back the missing parts of a saved ingress/clsact hook.
func restoreHook(idx int, saved []SavedObject) error {
	if len(saved) == 0 {
		return nil
	}
	hook, err := parseTC(saved[0].Msg)
	if err != nil {
		return fmt.Errorf("saved %s: %w", saved[0].Desc, err)
	}
	qs, err := dumpTC(unix.RTM_GETQDISC, idx, 0)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	var now *tcObject
	for i := range qs {
		if qs[i].Parent == tcHIngress {
			now = &qs[i]
		}
	}
	switch {
	case now == nil:
		return replayAll(idx, saved, nil, nil)
	case now.kind() != hook.kind():
		return fmt.Errorf("the ingress hook now has a %s qdisc where %s was: left alone; put the old one back by hand", now.kind(), saved[0].Desc)
	}
	have := map[filterKey]bool{}
	chains := map[filterKey]bool{} // filter chains (handle 0) that exist
	fs, err := dumpFilters(idx, hookParents(hook.kind()))
	if err != nil {
		return err
	}
	for _, f := range fs {
		k := keyOf(f)
		have[k] = true
		k.handle = 0
		chains[k] = true
	}
	return replayAll(idx, saved[1:], have, chains)
}

// replayAll creates the saved hook objects that are not in have; chain
// headers (handle 0) only where the chain is gone. A BPF filter cannot be
// created again (its program went with it): that is an error naming it.
func replayAll(idx int, saved []SavedObject, have, chains map[filterKey]bool) error {
	var errs []error
	for _, so := range saved {
		o, err := parseTC(so.Msg)
		if err != nil {
			return fmt.Errorf("saved %s: %w", so.Desc, err)
		}
		if so.Type == "filter" {
			k := keyOf(o)
			if have[k] || (o.Handle == 0 && chains[k]) {
				continue
			}
			if needsProgram(o) {
				errs = append(errs, fmt.Errorf("%s is gone and its BPF program with it: add it again by hand", so.Desc))
				continue
			}
		}
		if err := replay(idx, so); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
