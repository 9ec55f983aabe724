package shaper

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// StatusOptions select what Status reports.
type StatusOptions struct {
	Netns    string        // with AllNetns false: the namespace to show ("" = the root one)
	AllNetns bool          // show every namespace
	Ifaces   []string      // none: every managed interface
	Sample   time.Duration // >0: measure live rates over this interval
	// CountersOnly reads what metrics need and nothing else: no drift
	// check, no hook listing, no search of other namespaces (the exporter
	// reads at every scrape).
	CountersOnly bool
}

// StatusReport is what `shaper status` shows: per managed interface, the
// classes with configured and live numbers, the apps, the programs on the
// tc hooks, and any drift of the kernel from the applied policy.
type StatusReport struct {
	Interfaces []IfaceStatus `json:"interfaces"`
	Sampled    string        `json:"sampled_over,omitempty"`
	// OtherNetns are namespaces where shaper manages interfaces that this
	// report leaves out (it shows one namespace unless asked for all).
	OtherNetns []string `json:"other_netns,omitempty"`
}

// IfaceStatus is one managed interface.
type IfaceStatus struct {
	Netns     string               `json:"netns,omitempty"`
	Iface     string               `json:"iface"`
	Source    string               `json:"source,omitempty"`
	AppliedAt time.Time            `json:"applied_at"`
	Attach    string               `json:"attach"`
	Present   bool                 `json:"present"`
	Egress    DirStatus            `json:"egress"`
	Ingress   *DirStatus           `json:"ingress,omitempty"`
	Path      *PathStatus          `json:"ingress_path,omitempty"` // downloads shaped: where
	Hooks     []loader.HookProgram `json:"hooks"`
	// Flows is the fill of the interface's flow table (both hooks share
	// it); nil before the first packet's apply made one.
	Flows *loader.FlowTable `json:"flows,omitempty"`
	Drift []string          `json:"drift"` // empty: the kernel matches the applied policy
}

// DirStatus is one direction of an interface.
type DirStatus struct {
	Mode    string        `json:"mode"` // htb | tbf | monitor
	Classes []ClassStatus `json:"classes,omitempty"`
	Apps    []AppStatus   `json:"apps"`
	// Retired are the counts of apps gone from the policy whose ids were
	// reused: the apps plus this are everything the classifier counted.
	Retired loader.Counter `json:"retired_apps"`
}

// ClassStatus is a class (or the TBF root) with the kernel's counters and
// the classifier's own count of what it sent there.
type ClassStatus struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Parent     string `json:"parent,omitempty"`
	Depth      int    `json:"depth"`
	RateBits   uint64 `json:"rate_bits"`
	CeilBits   uint64 `json:"ceil_bits,omitempty"`
	Stats      Stats  `json:"stats"`
	BPFBytes   uint64 `json:"bpf_bytes"`
	BPFPackets uint64 `json:"bpf_packets"`
	NowBits    uint64 `json:"now_bits,omitempty"` // live rate over the sample
}

// AppStatus is one app's counters.
type AppStatus struct {
	Name    string `json:"name"`
	ID      uint32 `json:"id"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	NowBits uint64 `json:"now_bits,omitempty"`
	Removed bool   `json:"removed,omitempty"` // gone from the policy; its id is reused when needed
	Class   string `json:"class,omitempty"`   // the class the app's traffic goes to (shaped directions)
}

// UnmatchedApp names the traffic no app matches.
const UnmatchedApp = "unmatched"

// Status reads the kernel for every managed interface selected.
func Status(o StatusOptions) (*StatusReport, error) {
	if o.AllNetns && o.Netns != "" {
		return nil, badInput(fmt.Errorf("--netns %s and --all-namespaces: give one of them", o.Netns))
	}
	// The exporter reads at every scrape: it leaves moving an older
	// shaper's state files to apply and status.
	if !o.CountersOnly {
		if err := ensureLayout(); err != nil {
			return nil, err
		}
	}
	scope := o.Netns
	if o.AllNetns {
		scope = "*"
	}
	states, err := selectStates(scope, o.Ifaces)
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		if err := netnsExists(scope); err != nil {
			return nil, err
		}
	}
	var others []string
	if !o.CountersOnly {
		if others, err = otherNetns(scope); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	first, err := collect(states, o.CountersOnly)
	if err != nil || o.Sample <= 0 {
		return &StatusReport{Interfaces: first, OtherNetns: others}, err
	}
	time.Sleep(o.Sample - time.Since(t0))
	t1 := time.Now()
	second, err := collect(states, o.CountersOnly)
	if err != nil {
		return nil, err
	}
	// Readings take time: rate over the time between their starts.
	fillRates(first, second, t1.Sub(t0))
	return &StatusReport{Interfaces: second, Sampled: o.Sample.String(), OtherNetns: others}, nil
}

// otherNetns lists the namespaces outside scope with managed interfaces
// ("" for the root one), so that a scoped status can point at them.
func otherNetns(scope string) ([]string, error) {
	if scope == "*" {
		return nil, nil
	}
	all, err := ListStates("*")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, st := range all {
		if st.Netns != scope && !slices.Contains(out, st.Netns) {
			out = append(out, st.Netns)
		}
	}
	return out, nil
}

func collect(states []*State, countersOnly bool) ([]IfaceStatus, error) {
	out := make([]IfaceStatus, 0, len(states))
	for _, st := range states {
		s, err := collectOne(st, countersOnly)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", st.label(), err)
		}
		out = append(out, s)
	}
	return out, nil
}

func collectOne(st *State, countersOnly bool) (IfaceStatus, error) {
	s := IfaceStatus{Netns: st.Netns, Iface: st.Iface, Source: st.Source, AppliedAt: st.AppliedAt, Attach: st.Attach, Drift: []string{}}
	egress, err := plan.Keeping(st.Interface.Egress, st.Minors)
	if err != nil {
		return s, err
	}
	ingress, err := plan.Keeping(st.Interface.Ingress, st.IngressMinors)
	if err != nil {
		return s, err
	}
	names := appNames(st.AppIDs)
	var cur, curIn *plan.KernelState
	err = inNetns(st.Netns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		link, err := h.LinkByName(st.Iface)
		if err != nil {
			s.Drift = append(s.Drift, "interface is gone")
			return nil
		}
		s.Present = true
		if countersOnly {
			cur, err = readCounters64(link)
			return err
		}
		if cur, err = ReadState(h, link); err != nil {
			return err
		}
		if ch := plan.Diff(egress, cur); len(ch) > 0 {
			for _, c := range ch {
				s.Drift = append(s.Drift, "kernel differs from the applied policy: needs "+c.String())
			}
		}
		if s.Hooks, err = loader.List(link.Attrs().Index, progPrefix); err != nil {
			return err
		}
		if ingress != nil {
			s.Path, curIn = ingressPathStatus(h, st, ingress, s.Hooks)
			for _, m := range s.Path.Missing {
				s.Drift = append(s.Drift, "download path incomplete (downloads pass unshaped): missing "+m)
			}
		}
		return nil
	})
	var nsErr netnsError
	if errors.As(err, &nsErr) {
		// Its namespace is gone (`ip netns del`): the kernel dropped the
		// interface and its queues; the pins and counters are still here.
		s.Drift = append(s.Drift, fmt.Sprintf("network namespace %s is gone: `shaper delete --netns %s` removes what shaper kept of it",
			st.Netns, st.Netns))
	} else if err != nil {
		return s, err
	}
	if s.Flows, err = flowTable(st); err != nil {
		return s, err
	}
	if s.Egress, err = dirStatus(st, loader.Egress, egress, cur, names); err != nil {
		return s, err
	}
	if !countersOnly {
		s.checkHook(loader.Egress)
	}
	if st.Interface.Ingress != nil {
		in, err := dirStatus(st, loader.Ingress, ingress, curIn, names)
		if err != nil {
			return s, err
		}
		s.Ingress = &in
		if !countersOnly {
			s.checkHook(loader.Ingress)
		}
	}
	return s, nil
}

func (s *IfaceStatus) checkHook(dir loader.Direction) {
	if !s.Present {
		return
	}
	for _, h := range s.Hooks {
		if h.Ours && h.Dir == dir {
			return
		}
	}
	s.Drift = append(s.Drift, fmt.Sprintf("classifier is not attached on %s", dir))
}

func dirStatus(st *State, dir loader.Direction, egress *plan.Plan, cur *plan.KernelState, names map[uint32]string) (DirStatus, error) {
	d := DirStatus{Mode: "monitor"}
	classCnt, appCnt, err := loader.ReadCounters(loader.PinDir(st.Netns, st.Iface, dir))
	if err != nil {
		return d, err
	}
	if egress != nil {
		d.Mode = egress.Kind
		d.Classes = classStatuses(egress, cur, classCnt)
	}
	// Every app of the policy is listed, counted or not.
	for _, a := range st.Apps {
		if id, ok := st.AppIDs[a.Name]; ok {
			if _, counted := appCnt[id]; !counted {
				d.Apps = append(d.Apps, AppStatus{Name: a.Name, ID: id})
			}
		}
	}
	for id, c := range appCnt {
		name, ok := names[id]
		if !ok {
			name = fmt.Sprintf("app-%d", id) // an app since removed from the policy
		}
		d.Apps = append(d.Apps, AppStatus{Name: name, ID: id, Bytes: c.Bytes, Packets: c.Packets,
			Removed: id != 0 && !slices.ContainsFunc(st.Apps, func(a policy.App) bool { return a.Name == name })})
	}
	if egress != nil && dir == loader.Egress {
		classes := appClasses(st.Interface.Egress)
		for i := range d.Apps {
			if c, ok := classes[d.Apps[i].Name]; ok {
				d.Apps[i].Class = c
			} else if !d.Apps[i].Removed {
				d.Apps[i].Class = st.Interface.Egress.Default
			}
		}
	}
	d.Retired = st.Retired[dir.String()]
	sort.SliceStable(d.Apps, func(i, j int) bool {
		if d.Apps[i].Bytes != d.Apps[j].Bytes {
			return d.Apps[i].Bytes > d.Apps[j].Bytes
		}
		return d.Apps[i].Name < d.Apps[j].Name
	})
	return d, nil
}

func classStatuses(p *plan.Plan, cur *plan.KernelState, cnt map[uint32]loader.Counter) []ClassStatus {
	if p.Kind == "tbf" {
		c := ClassStatus{Name: "root", ID: "1:", RateBits: p.TBF.RateBytes * 8}
		if cur != nil && cur.Root != nil {
			c.Stats = cur.Root.Stats
		}
		c.BPFBytes, c.BPFPackets = cnt[0].Bytes, cnt[0].Packets
		return []ClassStatus{c}
	}
	depth := map[uint32]int{plan.RootHandle: -1}
	var out []ClassStatus
	for _, pc := range p.Classes {
		depth[pc.ClassID] = depth[pc.Parent] + 1
		c := ClassStatus{Name: pc.Name, ID: plan.HandleString(pc.ClassID), Parent: plan.HandleString(pc.Parent),
			Depth: depth[pc.ClassID], RateBits: pc.RateBytes * 8, CeilBits: pc.CeilBytes * 8}
		if cur != nil {
			if k, ok := cur.Class(pc.ClassID); ok {
				c.Stats = k.Stats
			}
		}
		slot := pc.ClassID & 0xffff
		c.BPFBytes, c.BPFPackets = cnt[slot].Bytes, cnt[slot].Packets
		out = append(out, c)
	}
	return out
}

func appNames(ids map[string]uint32) map[uint32]string {
	out := map[uint32]string{0: UnmatchedApp}
	for n, id := range ids {
		out[id] = n
	}
	return out
}

// fillRates sets live rates from two readings dt apart.
func fillRates(a, b []IfaceStatus, dt time.Duration) {
	rate := func(x, y uint64) uint64 {
		if y < x {
			return 0
		}
		return uint64(float64(y-x) * 8 / dt.Seconds())
	}
	for i := range b {
		if i >= len(a) {
			break
		}
		for j := range b[i].Egress.Classes {
			if j < len(a[i].Egress.Classes) {
				b[i].Egress.Classes[j].NowBits = rate(a[i].Egress.Classes[j].Stats.Bytes, b[i].Egress.Classes[j].Stats.Bytes)
			}
		}
		fillAppRates(a[i].Egress.Apps, b[i].Egress.Apps, rate)
		if a[i].Ingress != nil && b[i].Ingress != nil {
			for j := range b[i].Ingress.Classes {
				if j < len(a[i].Ingress.Classes) {
					b[i].Ingress.Classes[j].NowBits = rate(a[i].Ingress.Classes[j].Stats.Bytes, b[i].Ingress.Classes[j].Stats.Bytes)
				}
			}
			fillAppRates(a[i].Ingress.Apps, b[i].Ingress.Apps, rate)
		}
	}
}

func fillAppRates(a, b []AppStatus, rate func(x, y uint64) uint64) {
	prev := map[uint32]uint64{}
	for _, x := range a {
		prev[x.ID] = x.Bytes
	}
	for j := range b {
		b[j].NowBits = rate(prev[b[j].ID], b[j].Bytes)
	}
}

// readCounters64 is ReadState's counters alone: one qdisc and one class
// dump, no parameters (metrics take the configured rates from the plan).
func readCounters64(link netlink.Link) (*plan.KernelState, error) {
	root, classes, err := readStats64(link.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", link.Attrs().Name, err)
	}
	st := &plan.KernelState{}
	if root != nil {
		st.Root = &plan.QdiscState{Stats: *root}
	}
	for id, c := range classes {
		st.Classes = append(st.Classes, plan.ClassState{ClassID: id, Stats: c})
	}
	return st, nil
}

// flowTable reads the fill of st's flow table; nil when there is none.
func flowTable(st *State) (*loader.FlowTable, error) {
	ft, err := loader.ReadFlowTable(loader.SharedDir(st.Netns, st.Iface))
	if err != nil {
		return nil, err
	}
	if ft.Capacity == 0 {
		return nil, nil
	}
	return &ft, nil
}

// appClasses maps each app to the leaf class that lists it.
func appClasses(d *policy.Direction) map[string]string {
	out := map[string]string{}
	var walk func([]policy.Class)
	walk = func(cs []policy.Class) {
		for _, c := range cs {
			for _, a := range c.Apps {
				out[a] = c.Name
			}
			walk(c.Classes)
		}
	}
	if d != nil {
		walk(d.Classes)
	}
	return out
}
