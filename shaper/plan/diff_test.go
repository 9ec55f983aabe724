package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/policy"
)

// kernelOf is the state the kernel reports after applying p: buffers in
// ticks as the applier sends them, inner classes at a level above 0.
func kernelOf(p *Plan) *KernelState {
	if p.Kind == "tbf" {
		t := p.TBF
		return &KernelState{Root: &QdiscState{Kind: "tbf", Handle: p.Handle, Parent: HandleRoot,
			RateBytes: t.RateBytes, BufferTicks: DefaultPsched.Xmittime(t.RateBytes, t.Burst), Burst: DefaultPsched.Xmitsize(t.RateBytes, DefaultPsched.Xmittime(t.RateBytes, t.Burst)),
			Limit: t.Limit, PeakBytes: t.PeakBytes}}
	}
	s := &KernelState{Root: &QdiscState{Kind: "htb", Handle: p.Handle, Parent: HandleRoot, Default: p.Default, R2Q: 10}}
	for _, c := range p.Classes {
		k := ClassState{ClassID: c.ClassID, Parent: c.Parent, RateBytes: c.RateBytes, CeilBytes: c.CeilBytes,
			BufferTicks: DefaultPsched.Xmittime(c.RateBytes, c.Burst), CBufferTicks: DefaultPsched.Xmittime(c.CeilBytes, c.CBurst),
			Quantum: c.Quantum, Prio: c.Prio}
		k.Burst, k.CBurst = DefaultPsched.Xmitsize(k.RateBytes, k.BufferTicks), DefaultPsched.Xmitsize(k.CeilBytes, k.CBufferTicks)
		if !c.Leaf {
			k.Level = 7
		}
		s.Classes = append(s.Classes, k)
	}
	return s
}

// withDefault pretends the kernel's default class already is the plan's
// (minors shift when classes nest, and a new default rebuilds the root).
func withDefault(k *KernelState, def uint32) *KernelState {
	k.Root.Default = def
	return k
}

func ops(cs Changes) string {
	var out []string
	for _, c := range cs {
		id := c.ClassID
		if c.Op <= OpChangeRoot {
			id = c.Handle
		}
		out = append(out, c.Op.String()+" "+HandleString(id))
	}
	return strings.Join(out, "; ")
}

func TestDiff(t *testing.T) {
	base := mustPlan(t, designEgress())
	tbf := mustPlan(t, &policy.Direction{TBF: &policy.TBF{Rate: 1024000, Burst: 1540, Latency: 50 * time.Millisecond}})
	nested := func() *policy.Direction {
		d := designEgress()
		d.Classes[0].Classes = []policy.Class{{Name: "video", Rate: mbit(30)}, {Name: "pages", Rate: mbit(20)}}
		return d
	}
	tests := []struct {
		name string
		plan *Plan
		cur  *KernelState
		want string
	}{
		{"equal", base, kernelOf(base), ""},
		{"equal tbf", tbf, kernelOf(tbf), ""},
		{"fresh interface", base, &KernelState{Root: &QdiscState{Kind: "noqueue"}},
			"add root qdisc 1:; add class 1:1; add class 1:10; add class 1:20; add class 1:30"},
		{"no root at all", tbf, &KernelState{}, "add root qdisc 1:"},
		{"rate change", mustPlan(t, func() *policy.Direction { d := designEgress(); d.Classes[1].Rate = mbit(40); return d }()),
			kernelOf(base), "change class 1:20"},
		{"prio change", mustPlan(t, func() *policy.Direction { d := designEgress(); d.Classes[0].Prio = 1; return d }()),
			kernelOf(base), "change class 1:10"},
		{"class added", mustPlan(t, func() *policy.Direction {
			d := designEgress()
			d.Classes = append(d.Classes, policy.Class{Name: "bulk", Rate: mbit(1)})
			return d
		}()), kernelOf(base), "add class 1:40"},
		{"class removed", base, func() *KernelState {
			k := kernelOf(base)
			k.Classes = append(k.Classes, ClassState{ClassID: 0x10040, Parent: 0x10001, RateBytes: 1000})
			return k
		}(), "delete class 1:40"},
		{"root kind change", base, kernelOf(tbf),
			"delete root qdisc 1:; add root qdisc 1:; add class 1:1; add class 1:10; add class 1:20; add class 1:30"},
		{"foreign root handle", tbf, &KernelState{Root: &QdiscState{Kind: "tbf", Handle: 0x80010000}},
			"delete root qdisc 8001:; add root qdisc 1:"},
		{"default class change rebuilds", mustPlan(t, func() *policy.Direction { d := designEgress(); d.Default = "web"; return d }()),
			kernelOf(base), "delete root qdisc 1:; add root qdisc 1:; add class 1:1; add class 1:10; add class 1:20; add class 1:30"},
		{"tbf rate change", mustPlan(t, &policy.Direction{TBF: &policy.TBF{Rate: 2048000, Burst: 1540, Latency: 50 * time.Millisecond}}),
			kernelOf(tbf), "change root qdisc 1:"},
		{"tbf limit change", mustPlan(t, &policy.Direction{TBF: &policy.TBF{Rate: 1024000, Burst: 1540, Limit: 9000}}),
			kernelOf(tbf), "change root qdisc 1:"},
		{"tbf burst within tick rounding", tbf, func() *KernelState {
			k := kernelOf(tbf)
			k.Root.BufferTicks = uint32(uint64(1540) * 1e9 / 128000 >> 6) // the kernel's exact-ns value
			return k
		}(), ""},
		{"inner class quantum is ignored", base, func() *KernelState {
			k := kernelOf(base)
			k.Classes[0].Quantum, k.Classes[0].Prio = 1000, 3
			return k
		}(), ""},
		{"burst off by one tick", base, func() *KernelState {
			k := kernelOf(base)
			k.Classes[1].BufferTicks++
			return k
		}(), ""},
		{"burst really changed", base, func() *KernelState {
			k := kernelOf(base)
			k.Classes[1].BufferTicks *= 2
			return k
		}(), "change class 1:10"},
		{"children added to a leaf", mustPlan(t, nested()), withDefault(kernelOf(base), 0x10050),
			// minors shift: video/pages take 1:20/1:30 under 1:10 (HTB cannot
			// move a class: delete and add), mail and other move to 1:40/1:50
			"delete class 1:20; delete class 1:30; add class 1:20; add class 1:30; add class 1:40; add class 1:50"},
		{"parent change recreates subtree", base, func() *KernelState {
			// kernel: 1:20,1:30 under 1:10; plan: under 1:1
			return withDefault(kernelOf(mustPlan(t, nested())), base.Default)
		}(), // deepest first: 1:20/1:30 (under 1:10), then 1:40/1:50
			"delete class 1:20; delete class 1:30; delete class 1:40; delete class 1:50; add class 1:20; add class 1:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.plan, tt.cur)
			if ops(got) != tt.want {
				t.Errorf("Diff =\n%s\nwant ops %q", got, tt.want)
			}
		})
	}
}

func TestDiffParentChangeOrder(t *testing.T) {
	// Kernel: 1:10 has child 1:20 which has child 1:30; plan puts 1:20 under 1:1.
	p := &Plan{Kind: "htb", Handle: RootHandle, Default: 0x10030, Classes: []Class{
		{ClassID: 0x10001, Parent: RootHandle, RateBytes: 1000, CeilBytes: 1000, Burst: 3200, CBurst: 3200, Quantum: 1600},
		{ClassID: 0x10010, Parent: 0x10001, RateBytes: 500, CeilBytes: 1000, Burst: 3200, CBurst: 3200, Quantum: 1600, Leaf: true},
		{ClassID: 0x10020, Parent: 0x10001, RateBytes: 500, CeilBytes: 1000, Burst: 3200, CBurst: 3200, Quantum: 1600},
		{ClassID: 0x10030, Parent: 0x10020, RateBytes: 500, CeilBytes: 1000, Burst: 3200, CBurst: 3200, Quantum: 1600, Leaf: true},
	}}
	k := kernelOf(p)
	k.Classes[2].Parent = 0x10010
	k.Classes[1].Level = 6
	got := ops(Diff(p, k))
	// the grandchild 1:30 goes first, then 1:20; 1:10 becomes a leaf again
	// and its quantum/prio are compared (equal here).
	want := "delete class 1:30; delete class 1:20; add class 1:20; add class 1:30"
	if got != want {
		t.Errorf("ops = %q, want %q", got, want)
	}
}

func TestDiffMonitorOnly(t *testing.T) {
	base := mustPlan(t, designEgress())
	if got := ops(Diff(nil, kernelOf(base))); got != "delete root qdisc 1:" {
		t.Errorf("nil plan over our root: %q", got)
	}
	for _, k := range []*KernelState{nil, {}, {Root: &QdiscState{Kind: "noqueue"}}, {Root: &QdiscState{Kind: "tbf", Handle: 0x80010000}}} {
		if got := Diff(nil, k); len(got) != 0 {
			t.Errorf("nil plan over %+v: %s", k, got)
		}
	}
}

func TestChangesString(t *testing.T) {
	base := mustPlan(t, designEgress())
	if got := Diff(base, kernelOf(base)).String(); got != "no changes\n" {
		t.Errorf("empty Changes.String() = %q", got)
	}
	d := designEgress()
	d.Classes[1].Rate = mbit(40)
	cs := Diff(mustPlan(t, d), kernelOf(base))
	want := "change class 1:20 mail rate 40mbit ceil 100mbit burst 5000b cburst 12500b quantum 200000 prio 0 apps [mail] (rate 30mbit → 40mbit)\n"
	if got := cs.String(); got != want {
		t.Errorf("Changes.String() =\n%q\nwant\n%q", got, want)
	}
	if cs.RebuildsRoot() {
		t.Error("a class change must not rebuild the root")
	}
	rb := Diff(base, kernelOf(mustPlan(t, &policy.Direction{TBF: &policy.TBF{Rate: 1e6, Burst: 1540, Limit: 5000}})))
	if !rb.RebuildsRoot() || !strings.HasPrefix(rb.String(), "delete root qdisc tbf 1: (root is tbf, want htb)\nadd root qdisc htb 1:\n") {
		t.Errorf("rebuild String() =\n%s", rb)
	}
}

// A root that was there before shaper is replaced, even when it has
// shaper's kind, handle and default class.
func TestDiffForeignRootIsReplaced(t *testing.T) {
	p, err := Direction(designEgress())
	if err != nil {
		t.Fatal(err)
	}
	k := kernelOf(p)
	if ch := Diff(p, k); len(ch) != 0 {
		t.Fatalf("own root: %s", ch)
	}
	k.Foreign = true
	if got := ops(Diff(p, k)); !strings.HasPrefix(got, "delete root qdisc 1:; add root qdisc 1:; add class 1:1") {
		t.Errorf("foreign root: ops %s, want a rebuild", got)
	}
}
