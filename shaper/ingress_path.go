package shaper

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// Downloads are shaped on the way out of a device of shaper's own
// (docs/downloads.md): a veth into a shaping namespace ("netns" mode, the
// default) or an IFB device ("ifb" mode). Every name is derived from the
// interface's namespace and name alone, so that apply, delete and status
// find the path without the state file (a crash before it was written
// leaves nothing they cannot find).

// ingressPath names one interface's download path.
type ingressPath struct {
	Via   string `json:"via"`             // netns | ifb
	Netns string `json:"netns,omitempty"` // the shaping namespace (netns mode)
	Host  string `json:"device"`          // veth host end or IFB device, in the interface's namespace
	Inner string `json:"inner,omitempty"` // veth end inside the shaping namespace
}

// pathNames are the names of the download path of iface in netns for via.
func pathNames(netnsName, iface, via string) ingressPath {
	h := fnv.New32a()
	h.Write([]byte(netnsName + "\x00" + iface))
	sum := fmt.Sprintf("%08x", h.Sum32())
	if via == policy.ViaIFB {
		return ingressPath{Via: via, Host: "shpb-" + sum}
	}
	ns := "shaper-" + iface
	if netnsName != "" {
		// Unique per (namespace, interface): eth0 of two namespaces
		// needs two shaping namespaces.
		ns = "shaper-" + iface + "-" + sum
	}
	return ingressPath{Via: policy.ViaNetns, Netns: ns, Host: "shp-" + sum, Inner: "shp-" + sum + "-in"}
}

// pinDirs are where the path's programs are pinned: one folder per device
// (the clsact marker of the tc attacher lives in a hook's parent folder),
// inside the interface's pin folder so that removing it removes them.
func (p ingressPath) pinDir(netnsName, iface, which string) string {
	return filepath.Join(loader.IfaceDir(netnsName, iface), "path-"+which, "ingress")
}

// ipv6Off turns IPv6 off on a device of the caller's namespace: the path's
// devices carry no address, and link-local ones would send router and
// neighbour solicitations of their own.
func ipv6Off(dev string) error {
	f := filepath.Join("/proc/sys/net/ipv6/conf", dev, "disable_ipv6")
	if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
		return nil // IPv6 is off in the kernel
	}
	if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("disable ipv6 on %s: %w", dev, err)
	}
	return nil
}

// pathMTU is the MTU of the path's devices: the largest, so that no frame
// the interface accepts is refused on the way (GRO packets pass anyway).
const pathMTU = 65535

// ifbQueueLen replaces IFB's default txqueuelen of 32, which drops bursts
// before the shaping qdisc sees them (its leaf fifos take their limit from it).
const ifbQueueLen = 1000

// ensureVeth makes (or repairs) the shaping namespace and its veth pair
// and returns the host end. h works in the interface's namespace. A pair
// with one end missing (namespace deleted by hand) is made afresh, and so
// are its stale pins.
func (j *job) ensureVeth(h *netlink.Handle, p ingressPath) (netlink.Link, error) {
	if !netns.Exists(p.Netns) {
		if err := netns.Create(p.Netns); err != nil {
			return nil, fmt.Errorf("shaping namespace: %w", err)
		}
	}
	host, err := h.LinkByName(p.Host)
	if err == nil && innerPresent(p) {
		return host, nil
	}
	if err == nil {
		if err := h.LinkDel(host); err != nil {
			return nil, fmt.Errorf("remove half of veth %s: %w", p.Host, err)
		}
	}
	_ = os.RemoveAll(filepath.Dir(p.pinDir(j.netns, j.iface.Name, "inner")))
	_ = os.RemoveAll(filepath.Dir(p.pinDir(j.netns, j.iface.Name, "return")))
	target, err := vns.GetFromName(p.Netns)
	if err != nil {
		return nil, fmt.Errorf("open shaping namespace %s: %w", p.Netns, err)
	}
	defer target.Close()
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU = p.Host, pathMTU
	veth := &netlink.Veth{LinkAttrs: la, PeerName: p.Inner, PeerNamespace: netlink.NsFd(int(target))}
	if err := h.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add veth %s: %w", p.Host, err)
	}
	if host, err = h.LinkByName(p.Host); err != nil {
		return nil, fmt.Errorf("veth %s: %w", p.Host, err)
	}
	return host, nil
}

func innerPresent(p ingressPath) bool {
	ok := false
	_ = inNetns(p.Netns, func() error {
		_, err := netlink.LinkByName(p.Inner)
		ok = err == nil
		return nil
	})
	return ok
}

// ensureIFB makes (or repairs) the IFB device.
func ensureIFB(h *netlink.Handle, p ingressPath) (netlink.Link, error) {
	l, err := h.LinkByName(p.Host)
	if err != nil {
		la := netlink.NewLinkAttrs()
		la.Name, la.TxQLen, la.MTU = p.Host, ifbQueueLen, pathMTU
		if err := h.LinkAdd(&netlink.Ifb{LinkAttrs: la}); err != nil {
			return nil, fmt.Errorf("add ifb %s: %w", p.Host, err)
		}
		if l, err = h.LinkByName(p.Host); err != nil {
			return nil, fmt.Errorf("ifb %s: %w", p.Host, err)
		}
	}
	if l.Type() != "ifb" {
		return nil, fmt.Errorf("%s is a %s, not shaper's ifb device: remove it", p.Host, l.Type())
	}
	if l.Attrs().TxQLen < ifbQueueLen {
		if err := h.LinkSetTxQLen(l, ifbQueueLen); err != nil {
			return nil, fmt.Errorf("ifb %s txqueuelen: %w", p.Host, err)
		}
	}
	return l, nil
}

// upNoIPv6 brings a path device up with IPv6 off.
func upNoIPv6(h *netlink.Handle, l netlink.Link) error {
	if err := ipv6Off(l.Attrs().Name); err != nil {
		return err
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// applyIngressPath builds or repairs the download path and its qdisc and
// returns what the ingress classifier must redirect to. It runs in the
// interface's namespace. The classifier is switched to the path after
// this (applyClassifiers): until then downloads pass unshaped.
func (j *job) applyIngressPath(h *netlink.Handle, link netlink.Link, att loader.Attacher) error {
	j.redirect, j.path = 0, nil
	if j.ingress == nil {
		return nil
	}
	p := pathNames(j.netns, j.iface.Name, j.iface.Ingress.Via)
	if p.Via == policy.ViaIFB {
		ifb, err := ensureIFB(h, p)
		if err != nil {
			return err
		}
		if err := upNoIPv6(h, ifb); err != nil {
			return err
		}
		if err := applyPlanOn(h, ifb, j.ingress); err != nil {
			return fmt.Errorf("ifb %s: %w", p.Host, err)
		}
		j.redirect = uint32(ifb.Attrs().Index)
		return nil
	}
	host, err := j.ensureVeth(h, p)
	if err != nil {
		return err
	}
	err = inNetns(p.Netns, func() error {
		ih, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer ih.Close()
		inner, err := ih.LinkByName(p.Inner)
		if err != nil {
			return fmt.Errorf("veth %s in %s: %w", p.Inner, p.Netns, err)
		}
		if err := upNoIPv6(ih, inner); err != nil {
			return err
		}
		if err := applyPlanOn(ih, inner, j.ingress); err != nil {
			return fmt.Errorf("%s in %s: %w", p.Inner, p.Netns, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := upNoIPv6(h, host); err != nil {
		return err
	}
	j.path = j.runningPath(p, host, link, att.Name())
	if j.path == nil {
		if j.path, err = j.attachPathPrograms(att, p, host, link); err != nil {
			return err
		}
	}
	j.redirect = uint32(host.Attrs().Index)
	return nil
}

// PathPrograms records the shaping namespace's two programs as attached,
// so that a re-apply that finds them running leaves them be.
type PathPrograms struct {
	Attach string         `json:"attach"`
	Target int            `json:"target_ifindex"` // the interface shaper_return hands packets to
	Inner  ebpf.ProgramID `json:"inner_prog"`
	Return ebpf.ProgramID `json:"return_prog"`
}

// runningPath is the previous apply's record when both its programs still
// run where they were attached, for this interface; else nil.
func (j *job) runningPath(p ingressPath, host, link netlink.Link, mode string) *PathPrograms {
	if j.prev == nil || j.prev.PathPrograms == nil {
		return nil
	}
	rec := j.prev.PathPrograms
	if rec.Attach != mode || rec.Target != link.Attrs().Index || !runs(host, rec.Return) {
		return nil
	}
	ok := false
	_ = inNetns(p.Netns, func() error {
		inner, err := netlink.LinkByName(p.Inner)
		ok = err == nil && runs(inner, rec.Inner)
		return nil
	})
	if !ok {
		return nil
	}
	return rec
}

// runs says whether program id is on l's ingress (in the current namespace).
func runs(l netlink.Link, id ebpf.ProgramID) bool {
	hooks, err := loader.List(l.Attrs().Index, progPrefix)
	return err == nil && slices.ContainsFunc(hooks, func(h loader.HookProgram) bool {
		return h.Dir == loader.Ingress && h.ProgID == id
	})
}

// applyPlanOn makes a path device's root qdisc match p: the device is
// shaper's own, so what is there is never foreign.
func applyPlanOn(h *netlink.Handle, l netlink.Link, p *plan.Plan) error {
	cur, err := readTree(h, l)
	if err != nil {
		return err
	}
	return ApplyChanges(h, l, p, plan.Diff(p, cur))
}

// attachPathPrograms loads the shaping namespace's two programs and
// attaches them: the inner end's ingress first, then the host end's, so
// that a packet never reaches a half-made path (the classifier sends none
// before both run).
func (j *job) attachPathPrograms(att loader.Attacher, p ingressPath, host, link netlink.Link) (*PathPrograms, error) {
	r, err := loader.LoadRedirect(plan.RootHandle, uint32(link.Attrs().Index))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rec := &PathPrograms{Attach: att.Name(), Target: link.Attrs().Index}
	if rec.Inner, err = progID(r.Inner()); err != nil {
		return nil, err
	}
	if rec.Return, err = progID(r.Return()); err != nil {
		return nil, err
	}
	err = inNetns(p.Netns, func() error {
		inner, err := netlink.LinkByName(p.Inner)
		if err != nil {
			return fmt.Errorf("veth %s in %s: %w", p.Inner, p.Netns, err)
		}
		return attachPath(att, inner, r.Inner(), p.pinDir(j.netns, j.iface.Name, "inner"))
	})
	if err != nil {
		return nil, err
	}
	return rec, attachPath(att, host, r.Return(), p.pinDir(j.netns, j.iface.Name, "return"))
}

func progID(p *ebpf.Program) (ebpf.ProgramID, error) {
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, fmt.Errorf("program %s: the kernel gives no id", info.Name)
	}
	return id, nil
}

func attachPath(att loader.Attacher, l netlink.Link, prog *ebpf.Program, pin string) error {
	a := loader.Attachment{Ifindex: l.Attrs().Index, Ifname: l.Attrs().Name, Dir: loader.Ingress, PinPath: pin, Prog: prog}
	if err := att.Attach(a); err != nil {
		return fmt.Errorf("attach to %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// removeIngressPaths removes the download path devices and namespace of
// an interface, of both kinds except keep ("" removes all). It runs in the
// interface's namespace; what is missing is fine.
func removeIngressPaths(h *netlink.Handle, netnsName, iface, keep string) error {
	var errs []error
	for _, via := range []string{policy.ViaNetns, policy.ViaIFB} {
		if via == keep {
			continue
		}
		p := pathNames(netnsName, iface, via)
		// The host end first: deleting it takes its peer along at once,
		// where a namespace's devices go when the kernel gets round to it.
		if l, err := h.LinkByName(p.Host); err == nil {
			if err := h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", p.Host, err))
			}
		}
		if p.Netns != "" && netns.Exists(p.Netns) {
			if err := netns.Delete(p.Netns); err != nil {
				errs = append(errs, err)
			}
		}
		if via == policy.ViaNetns { // only netns mode has programs of its own
			for _, which := range []string{"inner", "return"} {
				_ = os.RemoveAll(filepath.Dir(p.pinDir(netnsName, iface, which)))
			}
		}
	}
	return errors.Join(errs...)
}
