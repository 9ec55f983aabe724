package shaper

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// PathStatus is the download path of an interface whose ingress is shaped.
type PathStatus struct {
	Via    string `json:"via"`             // netns | ifb
	Netns  string `json:"netns,omitempty"` // the shaping namespace (netns mode)
	Device string `json:"device"`          // veth host end or IFB device
	Inner  string `json:"inner,omitempty"` // veth end inside the shaping namespace
	// Complete: every part is there and the classifier redirects into it.
	// While it is false downloads pass unshaped (docs/downloads.md).
	Complete bool     `json:"complete"`
	Missing  []string `json:"missing,omitempty"`
}

// ingressPathStatus reads the download path of st's interface and the
// shaping qdisc's tree; it runs in the interface's namespace.
func ingressPathStatus(h *netlink.Handle, st *State, in *plan.Plan, hooks []loader.HookProgram) (*PathStatus, *plan.KernelState) {
	p := pathNames(st.Netns, st.Iface, st.Interface.Ingress.Via)
	ps := &PathStatus{Via: p.Via, Netns: p.Netns, Device: p.Host, Inner: p.Inner}
	miss := func(format string, a ...any) { ps.Missing = append(ps.Missing, fmt.Sprintf(format, a...)) }
	var cur *plan.KernelState
	host, err := h.LinkByName(p.Host)
	if err != nil {
		miss("device %s", p.Host)
	}
	switch {
	case p.Via == policy.ViaIFB && host != nil:
		cur = readPathTree(h, host, in, miss)
	case p.Via == policy.ViaNetns && !netns.Exists(p.Netns):
		miss("namespace %s", p.Netns)
	case p.Via == policy.ViaNetns:
		_ = inNetns(p.Netns, func() error {
			ih, err := netlink.NewHandle()
			if err != nil {
				return err
			}
			defer ih.Close()
			inner, err := ih.LinkByName(p.Inner)
			if err != nil {
				miss("device %s in %s", p.Inner, p.Netns)
				return nil
			}
			cur = readPathTree(ih, inner, in, miss)
			ours(inner, miss)
			return nil
		})
		if host != nil {
			ours(host, miss)
		}
	}
	// The classifier recorded as redirecting to this device must be the
	// one on the hook.
	rec := st.Loaded[loader.Ingress.String()]
	running := rec != nil && slices.ContainsFunc(hooks, func(hp loader.HookProgram) bool {
		return hp.Dir == loader.Ingress && hp.ProgID == rec.ProgID
	})
	if host != nil && (!running || !strings.Contains(rec.Knobs, fmt.Sprintf("Redirect:%d}", host.Attrs().Index))) {
		miss("the ingress classifier's redirect to %s", p.Host)
	}
	ps.Complete = len(ps.Missing) == 0
	return ps, cur
}

func readPathTree(h *netlink.Handle, l netlink.Link, in *plan.Plan, miss func(string, ...any)) *plan.KernelState {
	cur, err := ReadState(h, l)
	if err != nil {
		miss("qdisc of %s: %v", l.Attrs().Name, err)
		return nil
	}
	if len(plan.Diff(in, cur)) > 0 {
		miss("the shaping qdisc on %s as applied", l.Attrs().Name)
	}
	return cur
}

// ours notes a path device whose ingress lacks shaper's program.
func ours(l netlink.Link, miss func(string, ...any)) {
	hooks, err := loader.List(l.Attrs().Index, progPrefix)
	if err == nil {
		for _, hp := range hooks {
			if hp.Ours && hp.Dir == loader.Ingress {
				return
			}
		}
	}
	miss("the program on %s's ingress", l.Attrs().Name)
}
