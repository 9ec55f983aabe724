package shaper

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/internal/nlretry"
	"github.com/shaperdev/shaper/shaper/plan"
)

func listQdiscs(h *netlink.Handle, link netlink.Link) ([]netlink.Qdisc, error) {
	qs, err := nlretry.List(func() ([]netlink.Qdisc, error) { return h.QdiscList(link) })
	if err != nil {
		return nil, fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	return qs, nil
}

func listClasses(h *netlink.Handle, link netlink.Link, parent uint32) ([]netlink.Class, error) {
	cs, err := nlretry.List(func() ([]netlink.Class, error) { return h.ClassList(link, parent) })
	if err != nil {
		return nil, fmt.Errorf("list classes of %s: %w", link.Attrs().Name, err)
	}
	return cs, nil
}

func rootQdisc(qs []netlink.Qdisc) netlink.Qdisc {
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q
		}
	}
	return nil
}

// ReadState reads the interface's root qdisc and, under an HTB root, its
// classes with their parameters and their 64-bit counters.
func ReadState(h *netlink.Handle, link netlink.Link) (*plan.KernelState, error) {
	st, err := readTree(h, link)
	if err != nil {
		return nil, err
	}
	// The netlink library reads packet counts as 32 bits: read them again.
	if err := inLinkNetns(link); err != nil {
		return nil, err
	}
	root, classes, err := readStats64(link.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", link.Attrs().Name, err)
	}
	if root != nil {
		st.Root.Stats = *root
	}
	for i := range st.Classes {
		st.Classes[i].Stats = classes[st.Classes[i].ClassID]
	}
	return st, nil
}

// readTree is ReadState without the second dump for 64-bit counters: what
// the diff, the applier and the restore need (they never read Stats).
func readTree(h *netlink.Handle, link netlink.Link) (*plan.KernelState, error) {
	qs, err := listQdiscs(h, link)
	if err != nil {
		return nil, err
	}
	st := &plan.KernelState{Clock: kernelClock()}
	q := rootQdisc(qs)
	if q == nil {
		return st, nil
	}
	st.Root = qdiscState(q)
	if st.Root.Kind == "htb" {
		cs, err := listClasses(h, link, st.Root.Handle)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if hc, ok := c.(*netlink.HtbClass); ok {
				st.Classes = append(st.Classes, classState(hc))
			}
		}
	}
	return st, nil
}

// kernelClock is the kernel's psched clock as netlink reads it from
// /proc/net/psched, for the planner's tick arithmetic (plan.Psched).
func kernelClock() plan.Psched { return plan.Psched{TickInUsec: netlink.TickInUsec()} }

func qdiscState(q netlink.Qdisc) *plan.QdiscState {
	a := q.Attrs()
	s := &plan.QdiscState{Kind: q.Type(), Handle: a.Handle, Parent: a.Parent}
	switch q := q.(type) {
	case *netlink.Htb:
		s.Default = a.Handle&0xFFFF0000 | q.Defcls&0xFFFF
		s.R2Q = q.Rate2Quantum
		if q.DirectQlen != nil {
			s.DirectQlen = *q.DirectQlen
		}
	case *netlink.Tbf:
		s.RateBytes = q.Rate
		s.BufferTicks = q.Buffer
		s.Burst = netlink.Xmitsize(q.Rate, q.Buffer)
		s.Limit = q.Limit
		s.PeakBytes = q.Peakrate
		s.MTU = q.Minburst
	}
	return s
}

func classState(c *netlink.HtbClass) plan.ClassState {
	s := plan.ClassState{
		ClassID: c.Handle, Parent: c.Parent, Level: c.Level,
		RateBytes: c.Rate, CeilBytes: c.Ceil,
		BufferTicks: c.Buffer, CBufferTicks: c.Cbuffer,
		Burst: netlink.Xmitsize(c.Rate, c.Buffer), CBurst: netlink.Xmitsize(c.Ceil, c.Cbuffer),
		Quantum: c.Quantum, Prio: c.Prio,
	}
	if c.Parent == netlink.HANDLE_ROOT {
		// The kernel reports a top-level class's parent as TC_H_ROOT; tc
		// and the plan name the qdisc ("parent 1:").
		s.Parent = c.Handle & 0xFFFF0000
	}
	return s
}

// ApplyChanges carries out Diff's changes in order. The plan supplies the
// root qdisc's parameters for OpAddRoot and OpChangeRoot.
func ApplyChanges(h *netlink.Handle, link netlink.Link, p *plan.Plan, ch plan.Changes) error {
	idx := link.Attrs().Index
	for _, c := range ch {
		if err := applyOne(h, idx, p, c); err != nil {
			if (c.Op == plan.OpAddRoot || c.Op == plan.OpChangeRoot) && errors.Is(err, unix.ENOENT) {
				// The kernel answers ENOENT for a qdisc kind it does not have.
				return missingFeature(p.Kind, err)
			}
			return fmt.Errorf("%s on %s: %w", c.Op, link.Attrs().Name, err)
		}
	}
	return nil
}

// missingFeature says which qdisc this kernel lacks: bad input (the
// machine cannot do what the policy asks), with what to do.
func missingFeature(kind string, err error) error {
	return badInput(fmt.Errorf("this kernel has no %s qdisc (%w): load it with `modprobe sch_%s` or build the kernel with CONFIG_NET_SCH_%s",
		kind, err, kind, strings.ToUpper(kind)))
}

func applyOne(h *netlink.Handle, idx int, p *plan.Plan, c plan.Change) error {
	switch c.Op {
	case plan.OpDeleteRoot:
		return h.QdiscDel(&netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: c.Handle, Parent: netlink.HANDLE_ROOT},
			QdiscType:  c.Kind})
	case plan.OpAddRoot, plan.OpChangeRoot:
		q, err := planQdisc(idx, p)
		if err != nil {
			return err
		}
		if c.Op == plan.OpChangeRoot {
			return h.QdiscChange(q)
		}
		return h.QdiscReplace(q)
	case plan.OpDeleteClass:
		return h.ClassDel(&netlink.HtbClass{ClassAttrs: netlink.ClassAttrs{LinkIndex: idx, Handle: c.ClassID, Parent: c.Parent}})
	case plan.OpChangeClass, plan.OpAddClass:
		hc, err := htbClass(idx, c.Class)
		if err != nil {
			return err
		}
		if c.Op == plan.OpChangeClass {
			return h.ClassChange(hc)
		}
		return h.ClassReplace(hc)
	}
	return fmt.Errorf("unknown change %d", int(c.Op))
}

func planQdisc(idx int, p *plan.Plan) (netlink.Qdisc, error) {
	if p == nil {
		return nil, errors.New("no plan for the root qdisc")
	}
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: p.Handle, Parent: netlink.HANDLE_ROOT}
	switch p.Kind {
	case "htb":
		q := netlink.NewHtb(attrs)
		q.Rate2Quantum = plan.R2Q
		q.Defcls = p.Default & 0xFFFF
		return q, nil
	case "tbf":
		t := p.TBF
		if err := check64(t.RateBytes, "tbf rate"); err != nil {
			return nil, err
		}
		if err := check64(t.PeakBytes, "tbf peakrate"); err != nil {
			return nil, err
		}
		q := &netlink.Tbf{QdiscAttrs: attrs, Rate: t.RateBytes, Limit: t.Limit,
			Buffer: netlink.Xmittime(t.RateBytes, t.Burst), Peakrate: t.PeakBytes}
		if t.PeakBytes > 0 {
			q.Minburst = t.MTU // sent as TCA_TBF_PBURST, the peak bucket in bytes
		}
		return q, nil
	}
	return nil, fmt.Errorf("unknown root kind %q", p.Kind)
}

// htbClass builds the netlink class with its buffers converted to psched
// ticks exactly as tc does (tc_calc_xmittime), so Diff can compare them.
func htbClass(idx int, c *plan.Class) (*netlink.HtbClass, error) {
	if err := check64(c.RateBytes, "class "+plan.HandleString(c.ClassID)+" rate"); err != nil {
		return nil, err
	}
	if err := check64(c.CeilBytes, "class "+plan.HandleString(c.ClassID)+" ceil"); err != nil {
		return nil, err
	}
	return &netlink.HtbClass{
		ClassAttrs: netlink.ClassAttrs{LinkIndex: idx, Handle: c.ClassID, Parent: c.Parent},
		Rate:       c.RateBytes, Ceil: c.CeilBytes,
		Buffer: netlink.Xmittime(c.RateBytes, c.Burst), Cbuffer: netlink.Xmittime(c.CeilBytes, c.CBurst),
		Quantum: c.Quantum, Prio: c.Prio,
	}, nil
}

// check64 refuses the few rates the netlink library cannot encode. Rates of
// 2^32 bytes/s (34.4gbit) and more go in the 64-bit attributes, but the
// library also puts the low 32 bits in the legacy field, which the kernel
// rejects when they are zero: exact multiples of 2^32 bytes/s.
func check64(rateBytes uint64, what string) error {
	if rateBytes >= 1<<32 && uint32(rateBytes) == 0 {
		return &plan.Error{Msg: fmt.Sprintf("%s %s is a multiple of 2^32 bytes/s, which netlink cannot encode: change it by 1kbit", what, plan.FormatRate(rateBytes))}
	}
	return nil
}

// Remove deletes the interface's root qdisc if it is one shaper installs
// (handle 1:, htb or tbf); any other root is left alone.
func Remove(h *netlink.Handle, link netlink.Link) error {
	st, err := readTree(h, link)
	if err != nil {
		return err
	}
	if !st.Root.Ours() {
		return nil
	}
	return ApplyChanges(h, link, nil, plan.Changes{{Op: plan.OpDeleteRoot, Kind: st.Root.Kind, Handle: st.Root.Handle}})
}
