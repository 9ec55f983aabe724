package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Op is one kind of change to the kernel's shaping state.
type Op int

// Ops in the order ApplyChanges meets them.
const (
	OpDeleteRoot  Op = iota // delete the current root qdisc and its whole tree
	OpAddRoot               // add the planned root qdisc
	OpChangeRoot            // change the root qdisc's parameters in place (TBF)
	OpDeleteClass           // delete one HTB class
	OpChangeClass           // change one HTB class in place (`tc class change`)
	OpAddClass              // add one HTB class
)

var opNames = [...]string{"delete root qdisc", "add root qdisc", "change root qdisc", "delete class", "change class", "add class"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Change is one action. For class ops Class is the planned class (add and
// change) and ClassID/Parent name the kernel class (delete); for root ops
// Kind/Handle name the qdisc.
type Change struct {
	Op      Op
	Kind    string
	Handle  uint32
	ClassID uint32
	Parent  uint32
	Class   *Class
	Reason  string // why, for --dry-run and status
}

// Changes is an ordered list of actions: applying them in order turns the
// kernel state into the plan. Empty when the kernel already matches.
type Changes []Change

// RebuildsRoot reports whether the changes replace the root qdisc (and so
// drop what is queued); class and TBF changes keep it.
func (cs Changes) RebuildsRoot() bool {
	for _, c := range cs {
		if c.Op == OpDeleteRoot || c.Op == OpAddRoot {
			return true
		}
	}
	return false
}

// String renders one change per line, "no changes" when empty.
func (cs Changes) String() string {
	if len(cs) == 0 {
		return "no changes\n"
	}
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (c Change) String() string {
	var s string
	switch c.Op {
	case OpDeleteRoot, OpAddRoot, OpChangeRoot:
		s = fmt.Sprintf("%s %s %s", c.Op, c.Kind, HandleString(c.Handle))
	case OpDeleteClass:
		s = fmt.Sprintf("%s %s", c.Op, HandleString(c.ClassID))
	default:
		s = fmt.Sprintf("%s %s", c.Op, c.Class.String())
	}
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// Diff compares a plan with the kernel state and returns what to do. A nil
// plan (monitor-only) removes a root qdisc of ours and leaves any other alone.
// Class parameters change in place; the root is rebuilt only when its kind
// or handle differs, or HTB's default class does (HTB has no qdisc change).
func Diff(plan *Plan, cur *KernelState) Changes {
	var root *QdiscState
	if cur != nil {
		root = cur.Root
	}
	if plan == nil {
		if root.Ours() {
			return Changes{{Op: OpDeleteRoot, Kind: root.Kind, Handle: root.Handle, Reason: "direction is not shaped"}}
		}
		return nil
	}
	why := rebuildReason(plan, root)
	if why == "" && cur.Foreign && !root.IsDefault() {
		why = "replace the root that was there before shaper"
	}
	if why != "" {
		return rebuild(plan, root, why)
	}
	clk := cur.clock()
	if plan.Kind == "tbf" {
		if why := tbfDiff(plan.TBF, root, clk); why != "" {
			return Changes{{Op: OpChangeRoot, Kind: "tbf", Handle: plan.Handle, Reason: why}}
		}
		return nil
	}
	return classChanges(plan, cur)
}

func rebuildReason(plan *Plan, root *QdiscState) string {
	switch {
	case root.IsDefault():
		return "no root qdisc yet"
	case root.Kind != plan.Kind:
		return fmt.Sprintf("root is %s, want %s", root.Kind, plan.Kind)
	case root.Handle != plan.Handle:
		return fmt.Sprintf("root handle is %s, want %s", HandleString(root.Handle), HandleString(plan.Handle))
	case plan.Kind == "htb" && root.Default != plan.Default:
		return fmt.Sprintf("default class %s → %s", HandleString(root.Default), HandleString(plan.Default))
	}
	return ""
}

func rebuild(plan *Plan, root *QdiscState, why string) Changes {
	var cs Changes
	if !root.IsDefault() {
		cs = append(cs, Change{Op: OpDeleteRoot, Kind: root.Kind, Handle: root.Handle, Reason: why})
		why = ""
	}
	cs = append(cs, Change{Op: OpAddRoot, Kind: plan.Kind, Handle: plan.Handle, Reason: why})
	for i := range plan.Classes {
		c := &plan.Classes[i]
		cs = append(cs, Change{Op: OpAddClass, ClassID: c.ClassID, Parent: c.Parent, Class: c})
	}
	return cs
}

func tbfDiff(p *TBF, q *QdiscState, clk Psched) string {
	var why []string
	if p.RateBytes != q.RateBytes {
		why = append(why, fmt.Sprintf("rate %s → %s", FormatRate(q.RateBytes), FormatRate(p.RateBytes)))
	}
	if !clk.ticksClose(clk.Xmittime(p.RateBytes, p.Burst), q.BufferTicks) {
		why = append(why, fmt.Sprintf("burst %db → %db", q.Burst, p.Burst))
	}
	if p.Limit != q.Limit {
		why = append(why, fmt.Sprintf("limit %db → %db", q.Limit, p.Limit))
	}
	if p.PeakBytes != q.PeakBytes {
		why = append(why, fmt.Sprintf("peakrate %s → %s", FormatRate(q.PeakBytes), FormatRate(p.PeakBytes)))
	}
	// The kernel reports the peak bucket only as ticks the netlink library
	// does not expose; compare it when known.
	if p.PeakBytes > 0 && q.MTU != 0 && p.MTU != q.MTU {
		why = append(why, fmt.Sprintf("mtu %d → %d", q.MTU, p.MTU))
	}
	return strings.Join(why, ", ")
}

// classChanges orders deletes (children first), then in-place changes,
// then adds (parents first, plan order).
func classChanges(plan *Plan, cur *KernelState) Changes {
	planned := make(map[uint32]*Class, len(plan.Classes))
	for i := range plan.Classes {
		planned[plan.Classes[i].ClassID] = &plan.Classes[i]
	}
	recreate := recreated(planned, cur.Classes)

	var dels []ClassState
	for _, k := range cur.Classes {
		if planned[k.ClassID] == nil || recreate[k.ClassID] {
			dels = append(dels, k)
		}
	}
	depth := kernelDepths(cur.Classes)
	sort.Slice(dels, func(i, j int) bool {
		if depth[dels[i].ClassID] != depth[dels[j].ClassID] {
			return depth[dels[i].ClassID] > depth[dels[j].ClassID]
		}
		return dels[i].ClassID < dels[j].ClassID
	})
	var cs Changes
	for _, k := range dels {
		why := "not in policy"
		if recreate[k.ClassID] {
			why = "parent changes"
		}
		cs = append(cs, Change{Op: OpDeleteClass, ClassID: k.ClassID, Parent: k.Parent, Reason: why})
	}
	for _, k := range cur.Classes {
		p := planned[k.ClassID]
		if p == nil || recreate[k.ClassID] {
			continue
		}
		if why := classDiff(p, k, cur.clock()); why != "" {
			cs = append(cs, Change{Op: OpChangeClass, ClassID: p.ClassID, Parent: p.Parent, Class: p, Reason: why})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Op < cs[j].Op }) // deletes before changes
	for i := range plan.Classes {
		p := &plan.Classes[i]
		if _, ok := cur.Class(p.ClassID); !ok || recreate[p.ClassID] {
			cs = append(cs, Change{Op: OpAddClass, ClassID: p.ClassID, Parent: p.Parent, Class: p})
		}
	}
	return cs
}

// recreated returns the kernel classes that must be deleted and added again
// because their parent differs from the plan's (HTB cannot move a class),
// together with all their kernel descendants.
func recreated(planned map[uint32]*Class, ks []ClassState) map[uint32]bool {
	re := map[uint32]bool{}
	for _, k := range ks {
		if p := planned[k.ClassID]; p != nil && p.Parent != k.Parent {
			re[k.ClassID] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, k := range ks {
			if !re[k.ClassID] && re[k.Parent] {
				re[k.ClassID] = true
				changed = true
			}
		}
	}
	return re
}

func kernelDepths(ks []ClassState) map[uint32]int {
	parent := make(map[uint32]uint32, len(ks))
	for _, k := range ks {
		parent[k.ClassID] = k.Parent
	}
	depth := make(map[uint32]int, len(ks))
	for _, k := range ks {
		d, id := 0, k.ClassID
		for p, ok := parent[id]; ok && d <= len(ks); p, ok = parent[id] {
			d++
			id = p
		}
		depth[k.ClassID] = d
	}
	return depth
}

// classDiff names the parameters that differ. Quantum and prio count only
// for leaves: HTB ignores them on inner classes.
func classDiff(p *Class, k ClassState, clk Psched) string {
	var why []string
	if p.RateBytes != k.RateBytes {
		why = append(why, fmt.Sprintf("rate %s → %s", FormatRate(k.RateBytes), FormatRate(p.RateBytes)))
	}
	if p.CeilBytes != k.CeilBytes {
		why = append(why, fmt.Sprintf("ceil %s → %s", FormatRate(k.CeilBytes), FormatRate(p.CeilBytes)))
	}
	if !clk.ticksClose(clk.Xmittime(p.RateBytes, p.Burst), k.BufferTicks) {
		why = append(why, fmt.Sprintf("burst %db → %db", k.Burst, p.Burst))
	}
	if !clk.ticksClose(clk.Xmittime(p.CeilBytes, p.CBurst), k.CBufferTicks) {
		why = append(why, fmt.Sprintf("cburst %db → %db", k.CBurst, p.CBurst))
	}
	if p.Leaf && p.Quantum != k.Quantum {
		why = append(why, fmt.Sprintf("quantum %d → %d", k.Quantum, p.Quantum))
	}
	if p.Leaf && p.Prio != k.Prio {
		why = append(why, fmt.Sprintf("prio %d → %d", k.Prio, p.Prio))
	}
	return strings.Join(why, ", ")
}
