package shaper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/loader"
)

// apply makes one interface match its job: state first (so a crash can
// still be undone), then the qdisc difference, then classifiers and maps.
func (j *job) apply(att loader.Attacher, o ApplyOptions) error {
	return inNetns(j.netns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		link, err := h.LinkByName(j.iface.Name)
		if err != nil {
			return ifaceError{name: j.iface.Name, netns: j.netns, pos: j.iface.Pos}
		}
		st := &State{Netns: j.netns, Iface: j.iface.Name, Source: o.Source, AppliedAt: time.Now().UTC(),
			Attach: att.Name(), Apps: j.apps, Interface: j.iface, AppIDs: j.appIDs}
		if j.prev != nil {
			st.Before = j.prev.Before
			st.Minors = mergeMinors(j.prev.Minors, j.egress)
		} else {
			st.Minors = mergeMinors(nil, j.egress)
			st.Before = j.before
			if err := st.Save(); err != nil {
				return err
			}
		}
		if err := j.applyQdisc(h, link); err != nil {
			return err
		}
		if err := j.applyClassifiers(att, link); err != nil {
			return err
		}
		if err := failpoint(j.label()); err != nil {
			return err
		}
		return st.Save()
	})
}

func (j *job) applyQdisc(h *netlink.Handle, link netlink.Link) error {
	if j.egress == nil {
		// Unshaped now: if shaper had shaped it, put back what was there.
		if j.prev != nil && j.prev.Interface.Egress.Shaped() {
			return Restore(h, link, j.prev.Before)
		}
		return nil
	}
	cur, err := ReadState(h, link)
	if err != nil {
		return err
	}
	return ApplyChanges(h, link, j.egress, Diff(j.egress, cur))
}

func (j *job) applyClassifiers(att loader.Attacher, link netlink.Link) error {
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		t, ok := j.tables[dir]
		if !ok {
			if err := loader.DetachAll(j.netns, j.iface.Name, dir); err != nil {
				return fmt.Errorf("detach %s: %w", dir, err)
			}
			continue
		}
		pin := loader.PinDir(j.netns, j.iface.Name, dir)
		knobs := j.knobs(dir)
		knobs.Link = loader.LinkKindOf(link) // what precedes the IP header: Ethernet, nothing (tun), other
		c, err := loader.LoadClassifierFor(knobs, pin, t)
		if err != nil {
			return fmt.Errorf("load %s classifier: %w", dir, err)
		}
		err = c.Update(t)
		if err == nil {
			a := loader.Attachment{Ifindex: link.Attrs().Index, Ifname: j.iface.Name, Dir: dir, Prog: c.Program(), PinPath: pin}
			err = att.Attach(a)
			if err == nil {
				_, err = loader.RemoveStale(att, a, progPrefix)
			}
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("%s classifier: %w", dir, err)
		}
	}
	return nil
}

// failpoint lets tests make an apply fail after it changed the kernel, to
// check the rollback; nil in the product.
var failpoint = func(label string) error { return nil }

// rollback returns the interface to what it was before this apply: the
// previous policy when there was one, else what it had before shaper.
func (j *job) rollback() error {
	if j.prev == nil {
		st, err := LoadState(j.netns, j.iface.Name)
		if err != nil || st == nil {
			return err
		}
		return remove(st)
	}
	old := newJob(j.prev.Interface, j.netns, j.prev.Apps)
	if err := old.prepare(); err != nil {
		return err
	}
	att, err := loader.Choose(j.prev.Attach)
	if err != nil {
		return err
	}
	return old.apply(att, ApplyOptions{Source: j.prev.Source, Out: io.Discard})
}

// DeleteOptions select what Delete removes.
type DeleteOptions struct {
	Netns  string // "" with no Ifaces: every namespace
	Ifaces []string
	Out    io.Writer
}

// Delete removes shaper from interfaces and restores what they had before.
func Delete(o DeleteOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	states, err := selectStates(o.Netns, o.Ifaces)
	if err != nil {
		return err
	}
	if len(states) == 0 {
		fmt.Fprintln(o.Out, "nothing to delete: shaper manages no interface here")
		return nil
	}
	var errs []error
	for _, st := range states {
		if err := remove(st); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", st.label(), err))
			continue
		}
		fmt.Fprintf(o.Out, "%s: removed, restored what it had before\n", st.label())
	}
	return errors.Join(errs...)
}

// selectStates finds managed interfaces: all namespaces unless one is
// named; naming an interface shaper does not manage is bad input.
func selectStates(netns string, ifaces []string) ([]*State, error) {
	scope := netns
	if netns == "" {
		scope = "*"
	}
	all, err := ListStates(scope)
	if err != nil {
		return nil, err
	}
	if len(ifaces) == 0 {
		return all, nil
	}
	var out []*State
	var missing []string
	for _, name := range ifaces {
		found := false
		for _, st := range all {
			if st.Iface == name {
				out = append(out, st)
				found = true
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, badInput(fmt.Errorf("shaper does not manage %s: see `shaper status` for what it manages",
			strings.Join(missing, ", ")))
	}
	return out, nil
}

func (s *State) label() string {
	if s.Netns == "" {
		return s.Iface
	}
	return s.Netns + "/" + s.Iface
}

// remove undoes everything shaper did on one interface. An interface or
// namespace that is gone leaves only pins and the state file to remove.
func remove(st *State) error {
	err := inNetns(st.Netns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
			if err := loader.DetachAll(st.Netns, st.Iface, dir); err != nil {
				return fmt.Errorf("detach %s: %w", dir, err)
			}
		}
		link, err := h.LinkByName(st.Iface)
		if err != nil {
			return nil // gone: nothing left in the kernel
		}
		if !st.Interface.Egress.Shaped() {
			return nil // monitor-only never touched the root qdisc
		}
		return Restore(h, link, st.Before)
	})
	var nsErr netnsError
	if err != nil && !errors.As(err, &nsErr) {
		return err
	}
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		if err := os.RemoveAll(loader.PinDir(st.Netns, st.Iface, dir)); err != nil {
			return fmt.Errorf("remove pins: %w", err)
		}
	}
	return st.Remove()
}
