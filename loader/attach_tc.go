package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/internal/nlretry"
)

// Our legacy cls_bpf filter is found, replaced and removed by these three:
// a fixed preference, handle and name on the clsact hook. The preference
// 0xc0de (49374) sits above the 49152 that tc gives the first filter added
// without one (later ones count down), so it never collides with those and
// runs after them: our skb->priority is the one HTB sees.
const (
	FilterPrio   uint16 = 0xc0de
	FilterHandle uint32 = 1
	// FilterName is the cls_bpf name of our filter; filters whose name
	// starts with it count as ours (Ours, RemoveStale).
	FilterName = "shaper"
)

// TC attaches the legacy way: a clsact qdisc (created only if absent, and
// then marked as ours) and a direct-action cls_bpf filter. The filter
// outlives the process by itself; the program is also pinned at
// <PinPath>/prog so that it can be found again.
type TC struct{}

// Name implements Attacher.
func (TC) Name() string { return ModeTC }

// Attach creates or replaces our filter. Replacing an existing filter with
// the same preference and handle swaps the program in place (no gap).
func (TC) Attach(a Attachment) error {
	if err := a.check(true); err != nil {
		return fmt.Errorf("attach tc: %w", err)
	}
	if err := ensurePinDir(a.PinPath); err != nil {
		return fmt.Errorf("attach tc to %s: %w", a.where(), err)
	}
	if err := ensureClsact(a.Ifindex, ifaceDir(a.PinPath)); err != nil {
		return fmt.Errorf("attach tc to %s: %w", a.where(), err)
	}
	f := ourFilter(a.Ifindex, a.Dir)
	f.Fd = a.Prog.FD()
	if err := netlink.FilterReplace(f); err != nil {
		return fmt.Errorf("attach tc to %s: replace cls_bpf filter: %w", a.where(), err)
	}
	if err := pinProgramAt(a.Prog, filepath.Join(a.PinPath, progPin)); err != nil {
		return fmt.Errorf("attach tc to %s: %w", a.where(), err)
	}
	return nil
}

// Detach removes our filter and the program pin, then the clsact qdisc when
// we created it and no filter is left on it. Detaching twice is fine.
func (TC) Detach(a Attachment) error {
	if err := a.check(false); err != nil {
		return fmt.Errorf("detach tc: %w", err)
	}
	if err := delOurFilter(a.Ifindex, a.Dir); err != nil {
		return fmt.Errorf("detach tc from %s: %w", a.where(), err)
	}
	if err := removePin(filepath.Join(a.PinPath, progPin)); err != nil {
		return fmt.Errorf("detach tc from %s: %w", a.where(), err)
	}
	if err := releaseClsact(a.Ifindex, ifaceDir(a.PinPath)); err != nil {
		return fmt.Errorf("detach tc from %s: %w", a.where(), err)
	}
	return nil
}

// ifaceDir is the interface's pin directory, parent of the hook's.
func ifaceDir(pinPath string) string { return filepath.Dir(filepath.Clean(pinPath)) }

// clsactParent is the clsact hook a direction's filters hang on.
func clsactParent(d Direction) uint32 {
	if d == Ingress {
		return netlink.HANDLE_MIN_INGRESS
	}
	return netlink.HANDLE_MIN_EGRESS
}

func ourFilter(ifindex int, d Direction) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    clsactParent(d),
			Handle:    FilterHandle,
			Priority:  FilterPrio,
			Protocol:  unix.ETH_P_ALL,
		},
		Name:         FilterName,
		DirectAction: true,
	}
}

// isOurSlot says whether f occupies our preference and handle with our name.
func isOurSlot(f *netlink.BpfFilter) bool {
	return f.Priority == FilterPrio && f.Handle == FilterHandle && strings.HasPrefix(f.Name, FilterName)
}

// delOurFilter removes our filter from a hook when it is there.
func delOurFilter(ifindex int, d Direction) error {
	fs, err := bpfFilters(ifindex, d)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if isOurSlot(f) {
			return delFilter(f)
		}
	}
	return nil
}

func delFilter(f *netlink.BpfFilter) error {
	err := netlink.FilterDel(f)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete cls_bpf filter pref %d handle %#x: %w", f.Priority, f.Handle, err)
	}
	return nil
}

// bpfFilters lists the cls_bpf filters on a direction's clsact hook; none
// when there is no clsact.
func bpfFilters(ifindex int, d Direction) ([]*netlink.BpfFilter, error) {
	ok, err := hasClsact(ifindex)
	if err != nil || !ok {
		return nil, err
	}
	var all []netlink.Filter
	err = nlretry.Do(func() (err error) {
		all, err = netlink.FilterList(linkRef(ifindex), clsactParent(d))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s filters: %w", d, err)
	}
	var out []*netlink.BpfFilter
	for _, f := range all {
		if bf, ok := f.(*netlink.BpfFilter); ok {
			out = append(out, bf)
		}
	}
	return out, nil
}

// filterCount counts all filters (any kind) on both clsact hooks.
func filterCount(ifindex int) (int, error) {
	n := 0
	for _, d := range Directions {
		var fs []netlink.Filter
		err := nlretry.Do(func() (err error) {
			fs, err = netlink.FilterList(linkRef(ifindex), clsactParent(d))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("list %s filters: %w", d, err)
		}
		n += len(fs)
	}
	return n, nil
}

func hasClsact(ifindex int) (bool, error) {
	var qs []netlink.Qdisc
	err := nlretry.Do(func() (err error) {
		qs, err = netlink.QdiscList(linkRef(ifindex))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("list qdiscs of ifindex %d: %w", ifindex, err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

func clsactQdisc(ifindex int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: ifindex,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
}

// ensureClsact creates the clsact qdisc when absent and then marks it as
// ours (a marker directory in the interface's pin directory). One that
// exists already is someone else's and is never marked.
func ensureClsact(ifindex int, ifDir string) error {
	ok, err := hasClsact(ifindex)
	if err != nil || ok {
		return err
	}
	if err := os.MkdirAll(ifDir, 0o700); err != nil {
		return fmt.Errorf("create pin dir: %w", err)
	}
	err = netlink.QdiscAdd(clsactQdisc(ifindex))
	if errors.Is(err, unix.EEXIST) {
		return nil // created meanwhile by someone else: theirs
	}
	if err != nil {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	if err := os.Mkdir(filepath.Join(ifDir, clsactMarker), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("mark clsact as ours: %w", err)
	}
	return nil
}

// releaseClsact deletes the clsact qdisc when we created it and no filter
// of anyone is left on either hook, and drops the marker with it.
func releaseClsact(ifindex int, ifDir string) error {
	marker := filepath.Join(ifDir, clsactMarker)
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ok, err := hasClsact(ifindex)
	if err != nil {
		return err
	}
	if ok {
		n, err := filterCount(ifindex)
		if err != nil || n > 0 {
			return err
		}
		if err := netlink.QdiscDel(clsactQdisc(ifindex)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("delete clsact qdisc: %w", err)
		}
	}
	if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove clsact marker: %w", err)
	}
	return nil
}

// linkRef names an interface by index for netlink calls.
func linkRef(ifindex int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}
}
