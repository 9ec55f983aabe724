// Package plan is shaper's pure planner: it turns a policy direction into an
// HTB or TBF tree (handles, rates, bursts, quanta), compares that plan with a
// value describing what the kernel holds (Diff), and renders the plan as a
// tree and as the equivalent tc commands. It imports no netlink and makes no
// system call: the engine (package shaper) reads the kernel into a
// KernelState and carries out the Changes.
//
// Leaf qdiscs: each HTB leaf keeps HTB's default leaf qdisc, a pfifo whose
// limit is the device's txqueuelen. This kernel offers only pfifo and bfifo
// besides htb/tbf, neither adds fairness or AQM, and an explicit fifo would
// only add objects to create, diff and restore. Where the queue must be
// longer (IFB's txqueuelen is 32) raise the device's txqueuelen instead.
package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/shaperdev/shaper/policy"
)

// RootHandle is the handle of every root qdisc shaper installs (tc's "1:").
const RootHandle uint32 = 0x10000

// Handle values shared with the kernel's rtnetlink ABI.
const (
	HandleRoot uint32 = 0xFFFFFFFF // TC_H_ROOT
	rootClass  uint32 = RootHandle | 1
	minorStep         = 0x10
	// MaxMinor bounds class minors: BPF counter slots are indexed by minor.
	MaxMinor = 0x1000
)

// Plan is the kernel state one shaped direction needs.
type Plan struct {
	Kind    string // "htb" or "tbf"
	Handle  uint32 // always RootHandle
	Default uint32 // HTB: full class id of the default leaf class
	// Classes holds the HTB classes in creation order (every parent before
	// its children): the root class 1:1 first, then user classes depth-first
	// in file order.
	Classes []Class
	TBF     *TBF // TBF root parameters
}

// Class is one HTB class. Rates and sizes are in bytes.
type Class struct {
	Name      string   // "" for the root class 1:1
	ClassID   uint32   // e.g. 0x10010 for tc's 1:10
	Parent    uint32   // RootHandle for 1:1
	RateBytes uint64   // bytes/s
	CeilBytes uint64   // bytes/s
	Burst     uint32   // bytes
	CBurst    uint32   // bytes
	Quantum   uint32   // bytes
	Prio      uint32   // 0..7
	Leaf      bool     // no children: holds packets
	Apps      []string // apps classified into this class
}

// TBF is a TBF root qdisc.
type TBF struct {
	RateBytes uint64        // bytes/s
	Burst     uint32        // bytes
	Limit     uint32        // bytes queued at most
	Latency   time.Duration // as written, informational (Limit is what counts)
	PeakBytes uint64        // bytes/s; 0 = none
	MTU       uint32        // peak bucket size in bytes (with PeakBytes)
}

// Error is an error in the policy that the planner detects (a class
// tree the kernel cannot hold); it is bad input.
type Error struct{ Msg string }

func (e *Error) Error() string  { return e.Msg }
func (e *Error) BadInput() bool { return true }

func planErr(pos policy.Pos, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos.Line > 0 {
		msg = fmt.Sprintf("%s:%d:%d: %s", pos.File, pos.Line, pos.Col, msg)
	}
	return &Error{Msg: msg}
}

// Direction plans a direction's qdisc tree. A monitor-only direction
// (not Shaped) has no plan: (nil, nil). Minors go depth-first in file
// order, 0x10 apart.
func Direction(d *policy.Direction) (*Plan, error) { return Keeping(d, nil) }

// Keeping plans like Direction but keeps the minor a class name had
// in keep (the minors of earlier applies), and gives new classes minors
// that no name in keep ever had. So adding or removing a class leaves the
// others' ids, HTB counters and classifier counter slots alone, and a new
// class never inherits the bytes a removed one counted.
func Keeping(d *policy.Direction, keep map[string]uint32) (*Plan, error) {
	if !d.Shaped() {
		return nil, nil
	}
	if d.TBF != nil {
		if d.Rate.Bits > 0 || len(d.Classes) > 0 {
			return nil, planErr(d.Pos, "a direction has either tbf or rate/classes, not both: keep one")
		}
		t, err := planTBF(d.TBF)
		if err != nil {
			return nil, err
		}
		return &Plan{Kind: "tbf", Handle: RootHandle, TBF: t}, nil
	}
	return planHTB(d, keep)
}

func planHTB(d *policy.Direction, keep map[string]uint32) (*Plan, error) {
	rate := d.Rate.Bits / 8
	if rate == 0 {
		return nil, planErr(d.Pos, "rate %d bit/s is below 8 bit/s: give a larger rate", d.Rate.Bits)
	}
	root := Class{
		ClassID: rootClass, Parent: RootHandle,
		RateBytes: rate, CeilBytes: rate,
		Burst: DefaultBurst(rate), CBurst: DefaultBurst(rate),
		Quantum: DefaultQuantum(rate), Leaf: len(d.Classes) == 0,
	}
	p := &Plan{Kind: "htb", Handle: RootHandle, Classes: []Class{root}}
	if err := p.addClasses(d.Classes, rootClass, rate, newMinors(d, keep)); err != nil {
		return nil, err
	}
	if len(d.Classes) == 0 {
		p.Default = rootClass
		return p, nil
	}
	if d.Default == "" {
		return nil, planErr(d.Pos, "no default class: set `default:` to the leaf class that takes unclassified traffic")
	}
	c, ok := p.ClassByName(d.Default)
	if !ok || !c.Leaf {
		return nil, planErr(d.Pos, "default class %q is not a leaf class of this direction: name a leaf class", d.Default)
	}
	p.Default = c.ClassID
	return p, nil
}

// minors hands out class minors: kept ones first, then the lowest free
// multiple of minorStep that no kept name ever had (1:10, 1:20, ...: easy
// to read in tc), and once those run out (255 classes), the lowest free
// minor between them: up to MaxClasses in all.
type minors struct {
	keep  map[string]uint32
	taken map[uint32]bool
	next  uint32 // the next multiple of minorStep to try
	fill  uint32 // the next minor between multiples to try
}

// MaxClasses is the most classes one direction may have: the minors
// minorStep..MaxMinor-1.
const MaxClasses = MaxMinor - minorStep

func newMinors(d *policy.Direction, keep map[string]uint32) *minors {
	m := &minors{keep: map[string]uint32{}, taken: map[uint32]bool{}, next: minorStep, fill: minorStep + 1}
	for _, id := range keep {
		m.taken[id] = true
	}
	d.Walk(func(c, _ *policy.Class) {
		if id, ok := keep[c.Name]; ok && id > 0 && id < MaxMinor {
			m.keep[c.Name] = id
		}
	})
	return m
}

func (m *minors) get(name string) (uint32, bool) {
	if id, ok := m.keep[name]; ok {
		return id, true
	}
	for m.next < MaxMinor && m.taken[m.next] {
		m.next += minorStep
	}
	if m.next < MaxMinor {
		m.taken[m.next] = true
		return m.next, true
	}
	for m.fill < MaxMinor && (m.taken[m.fill] || m.fill%minorStep == 0) {
		m.fill++
	}
	id := m.fill
	m.taken[id] = true
	return id, id < MaxMinor
}

// addClasses plans the classes depth-first in file order (parents first).
func (p *Plan) addClasses(cs []policy.Class, parent uint32, parentCeil uint64, ids *minors) error {
	for i := range cs {
		c := &cs[i]
		minor, ok := ids.get(c.Name)
		if !ok {
			return planErr(c.Pos, "class %q: more than %d classes in one direction: merge some classes, or `shaper delete` the interface to start the numbering afresh", c.Name, MaxClasses)
		}
		pc, err := planClass(c, parent, parentCeil, minor)
		if err != nil {
			return err
		}
		p.Classes = append(p.Classes, pc)
		if err := p.addClasses(c.Classes, pc.ClassID, pc.CeilBytes, ids); err != nil {
			return err
		}
	}
	return nil
}

func planClass(c *policy.Class, parent uint32, parentCeil uint64, minor uint32) (Class, error) {
	rate, ceil := c.Rate.Bits/8, c.Ceil.Bits/8
	if ceil == 0 {
		ceil = parentCeil
	}
	switch {
	case rate == 0:
		return Class{}, planErr(c.Pos, "class %q: rate is zero: give it a rate", c.Name)
	case ceil < rate:
		return Class{}, planErr(c.Pos, "class %q: ceil %s is below rate %s: raise ceil", c.Name, FormatRate(ceil), FormatRate(rate))
	case c.Prio < 0 || c.Prio > 7:
		return Class{}, planErr(c.Pos, "class %q: prio %d is outside 0..7", c.Name, c.Prio)
	}
	pc := Class{
		Name: c.Name, ClassID: RootHandle | minor, Parent: parent,
		RateBytes: rate, CeilBytes: ceil,
		Burst: c.Burst, CBurst: c.CBurst, Quantum: c.Quantum,
		Prio: uint32(c.Prio), Leaf: len(c.Classes) == 0,
		Apps: append([]string(nil), c.Apps...),
	}
	if pc.Burst == 0 {
		pc.Burst = DefaultBurst(rate)
	}
	if pc.CBurst == 0 {
		pc.CBurst = DefaultBurst(ceil)
	}
	if pc.Quantum == 0 {
		pc.Quantum = DefaultQuantum(rate)
	}
	if !burstFits(rate, pc.Burst) || !burstFits(ceil, pc.CBurst) {
		return Class{}, planErr(c.Pos, "class %q: burst lasts more than %d s at its rate: lower burst/cburst", c.Name, maxBurstTime)
	}
	return pc, nil
}

func planTBF(t *policy.TBF) (*TBF, error) {
	p := &TBF{
		RateBytes: t.Rate / 8, Burst: t.Burst, Limit: t.Limit,
		Latency: t.Latency, PeakBytes: t.Peak / 8, MTU: t.MTU,
	}
	switch {
	case p.RateBytes == 0:
		return nil, planErr(t.Pos, "tbf: rate is zero: give it a rate")
	case p.Burst == 0:
		return nil, planErr(t.Pos, "tbf: burst is zero: give a burst of at least one packet (e.g. 1540)")
	case !burstFits(p.RateBytes, p.Burst):
		return nil, planErr(t.Pos, "tbf: burst lasts more than %d s at the rate: lower it", maxBurstTime)
	case p.PeakBytes > 0 && p.PeakBytes <= p.RateBytes:
		return nil, planErr(t.Pos, "tbf: peakrate must be above rate: raise peakrate or drop it")
	}
	if p.PeakBytes > 0 && p.MTU == 0 {
		p.MTU = MTU
	}
	if p.Limit == 0 {
		if t.Latency <= 0 {
			return nil, planErr(t.Pos, "tbf: give latency or limit")
		}
		p.Limit = tbfLimit(p, t.Latency)
	}
	return p, nil
}

// tbfLimit is tc's limit from latency: rate*latency + burst, or the smaller
// peak bucket equivalent when a peak rate is set.
func tbfLimit(p *TBF, latency time.Duration) uint32 {
	usec := float64(latency / time.Microsecond)
	lim := float64(p.RateBytes)*usec/timeUnitsPerSec + float64(p.Burst)
	if p.PeakBytes > 0 {
		lim = min(lim, float64(p.PeakBytes)*usec/timeUnitsPerSec+float64(p.MTU))
	}
	return uint32(min(lim, 0xFFFFFFFF))
}

// DefaultClassID is the class unclassified traffic goes to (HTB), 0 for TBF.
func (p *Plan) DefaultClassID() uint32 { return p.Default }

// Minors returns the minor of every named class, for Keeping.
func (p *Plan) Minors() map[string]uint32 {
	out := map[string]uint32{}
	for _, c := range p.Classes {
		if c.Name != "" {
			out[c.Name] = c.ClassID & 0xffff
		}
	}
	return out
}

// ClassByName finds a user class by name.
func (p *Plan) ClassByName(name string) (Class, bool) {
	for _, c := range p.Classes {
		if c.Name == name && c.Name != "" {
			return c, true
		}
	}
	return Class{}, false
}

// String renders the plan as an indented tree, rates in tc units.
func (p *Plan) String() string {
	if p == nil {
		return "monitor only (no qdisc)\n"
	}
	var b strings.Builder
	if p.Kind == "tbf" {
		t := p.TBF
		fmt.Fprintf(&b, "%s tbf rate %s burst %db limit %db", HandleString(p.Handle), FormatRate(t.RateBytes), t.Burst, t.Limit)
		if t.PeakBytes > 0 {
			fmt.Fprintf(&b, " peakrate %s mtu %d", FormatRate(t.PeakBytes), t.MTU)
		}
		b.WriteString("\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%s htb default %s\n", HandleString(p.Handle), HandleString(p.Default))
	depth := map[uint32]int{RootHandle: 0}
	for _, c := range p.Classes {
		d := depth[c.Parent] + 1
		depth[c.ClassID] = d
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", d), c.String())
	}
	return b.String()
}

// String renders one class, e.g.
// "1:10 web rate 50mbit ceil 100mbit burst 6250b cburst 12500b quantum 200000 prio 0 apps [web]".
func (c Class) String() string {
	var b strings.Builder
	b.WriteString(HandleString(c.ClassID))
	if c.Name != "" {
		b.WriteString(" " + c.Name)
	}
	fmt.Fprintf(&b, " rate %s ceil %s burst %db cburst %db quantum %d prio %d",
		FormatRate(c.RateBytes), FormatRate(c.CeilBytes), c.Burst, c.CBurst, c.Quantum, c.Prio)
	if len(c.Apps) > 0 {
		fmt.Fprintf(&b, " apps [%s]", strings.Join(c.Apps, " "))
	}
	return b.String()
}
