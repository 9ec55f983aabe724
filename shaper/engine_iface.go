package shaper

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
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
			Attach: att.Name(), Apps: j.apps, Interface: j.iface, AppIDs: j.appIDs, Retired: j.retired}
		if j.prev != nil {
			st.Before = j.prev.Before
			st.Minors = mergeMinors(j.prev.Minors, j.egress)
			st.IngressMinors = mergeMinors(j.prev.IngressMinors, j.ingress)
		} else {
			st.Minors = mergeMinors(nil, j.egress)
			st.IngressMinors = mergeMinors(nil, j.ingress)
			st.Before = j.before
			if err := st.Save(); err != nil {
				return err
			}
		}
		if err := j.applyQdisc(h, link); err != nil {
			return err
		}
		// The download path before the classifiers: the ingress one
		// switches the redirect on, last, when the path is whole.
		if err := j.applyIngressPath(h, link, att); err != nil {
			return err
		}
		if err := j.applyClassifiers(att, link); err != nil {
			return err
		}
		keep := ""
		if j.ingress != nil {
			keep = j.iface.Ingress.Via
		}
		if err := removeIngressPaths(h, j.netns, j.iface.Name, keep); err != nil {
			return err
		}
		if err := failpoint(j.label()); err != nil {
			return err
		}
		st.Loaded = j.loaded
		st.PathPrograms = j.path
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
	cur, err := readTree(h, link)
	if err != nil {
		return err
	}
	cur.Foreign = j.rootIsForeign()
	return ApplyChanges(h, link, j.egress, plan.Diff(j.egress, cur))
}

// rootIsForeign: until shaper has shaped the interface's egress, its root
// qdisc is someone else's, even one that looks like shaper's.
func (j *job) rootIsForeign() bool {
	return j.prev == nil || !j.prev.Interface.Egress.Shaped()
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
		if err := j.applyClassifier(att, link, dir, t); err != nil {
			return err
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
		_, err = remove(st)
		return err
	}
	old := newJob(j.prev.Interface, j.netns, j.prev.Apps)
	if err := old.prepare(); err != nil {
		return err
	}
	// Counts this apply already moved from reused slots stay retired.
	old.retired = j.retired
	att, err := loader.Choose(j.prev.Attach)
	if err != nil {
		return err
	}
	return old.apply(att, ApplyOptions{Source: j.prev.Source, Out: io.Discard})
}

// DeleteOptions select what Delete removes.
type DeleteOptions struct {
	Netns    string // the namespace to act in; "" = the root namespace
	AllNetns bool   // act in every namespace instead (Netns must be "")
	Ifaces   []string
	Out      io.Writer
}

// Delete removes shaper from interfaces of one namespace (or of all, when
// asked) and restores what they had before. A namespace that has vanished
// leaves its state and pins behind: deleting there removes them.
func Delete(o DeleteOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.AllNetns && o.Netns != "" {
		return badInput(fmt.Errorf("--netns %s and --all-namespaces: give one of them", o.Netns))
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := migrateLayout(); err != nil {
		return err
	}
	scope := o.Netns
	if o.AllNetns {
		scope = "*"
	}
	states, err := selectStates(scope, o.Ifaces)
	if err != nil {
		return err
	}
	if len(states) == 0 {
		if err := netnsExists(scope); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "nothing to delete: shaper manages no interface in %s", scopeText(scope))
		if others, err := otherNetns(scope); err == nil && len(others) > 0 {
			fmt.Fprintf(o.Out, " (it does in %s: use --netns NAME or --all-namespaces)", netnsList(others))
		}
		fmt.Fprintln(o.Out)
		return nil
	}
	var errs []error
	for _, st := range states {
		gone, err := remove(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", st.label(), err))
			continue
		}
		if gone {
			fmt.Fprintf(o.Out, "%s: network namespace is gone; removed its state and pins\n", st.label())
			continue
		}
		fmt.Fprintf(o.Out, "%s: removed, restored what it had before\n", st.label())
	}
	if err := removeSocketsIfLast(); err != nil {
		errs = append(errs, fmt.Errorf("remove socket owner records: %w", err))
	}
	return errors.Join(errs...)
}

// netnsExists says, as bad input, that a named namespace is not there.
func netnsExists(scope string) error {
	if scope == "" || scope == "*" {
		return nil
	}
	if !netns.Exists(scope) {
		return netnsError{scope}
	}
	return nil
}

func scopeText(scope string) string {
	switch scope {
	case "*":
		return "any network namespace"
	case "":
		return "the root network namespace"
	}
	return "network namespace " + scope
}

// selectStates finds managed interfaces in scope (a namespace, "" the root
// one, "*" all). Naming an interface shaper does not manage there is bad
// input; the error says where it does manage one of that name.
func selectStates(scope string, ifaces []string) ([]*State, error) {
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
		return nil, notManagedError(scope, missing)
	}
	return out, nil
}

// notManagedError names the interfaces not managed in scope and, to help
// the user who forgot --netns, where interfaces of those names are managed.
func notManagedError(scope string, missing []string) error {
	if err := netnsExists(scope); err != nil {
		return err
	}
	msg := fmt.Sprintf("shaper manages no interface %s in %s", strings.Join(missing, ", "), scopeText(scope))
	elsewhere, _ := ListStates("*")
	var hints []string
	for _, st := range elsewhere {
		if slices.Contains(missing, st.Iface) {
			hints = append(hints, "--netns "+st.Netns)
		}
	}
	if len(hints) > 0 {
		msg += fmt.Sprintf(": it does with %s (or --all-namespaces)", strings.Join(hints, ", "))
	} else {
		msg += ": see `shaper status` for what it manages"
	}
	return badInput(errors.New(msg))
}

func (s *State) label() string {
	if s.Netns == "" {
		return s.Iface
	}
	return s.Netns + "/" + s.Iface
}

// remove undoes everything shaper did on one interface. An interface or
// namespace that is gone leaves only pins and the state file to remove;
// gone says the namespace was.
func remove(st *State) (gone bool, err error) {
	err = inNetns(st.Netns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		// Ingress first: that switches the download redirect off before
		// its path goes.
		for _, dir := range []loader.Direction{loader.Ingress, loader.Egress} {
			if err := loader.DetachAll(st.Netns, st.Iface, dir); err != nil {
				return fmt.Errorf("detach %s: %w", dir, err)
			}
		}
		if err := removeIngressPaths(h, st.Netns, st.Iface, ""); err != nil {
			return err
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
	if gone = errors.As(err, &nsErr); err != nil && !gone {
		return false, err
	}
	if gone {
		// The shaping namespace is named: it outlives the interface's.
		if p := pathNames(st.Netns, st.Iface, policy.ViaNetns); netns.Exists(p.Netns) {
			if err := netns.Delete(p.Netns); err != nil {
				return gone, err
			}
		}
	}
	// Everything, the clsact marker included: with the namespace gone
	// nothing in the kernel refers to it any more.
	if err := loader.RemoveIfacePins(st.Netns, st.Iface); err != nil {
		return gone, err
	}
	return gone, st.Remove()
}
