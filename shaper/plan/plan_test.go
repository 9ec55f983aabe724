package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/policy"
)

func mbit(n uint64) policy.Rate { return policy.Rate{Bits: n * 1e6, Set: true} }

// designEgress is DESIGN.md's example: 100mbit, web/mail/other 50/30/20%.
func designEgress() *policy.Direction {
	return &policy.Direction{
		Rate: mbit(100), Default: "other",
		Classes: []policy.Class{
			{Name: "web", Rate: mbit(50), Ceil: mbit(100), Apps: []string{"web"}},
			{Name: "mail", Rate: mbit(30), Ceil: mbit(100), Apps: []string{"mail"}},
			{Name: "other", Rate: mbit(20), Ceil: mbit(100)},
		},
	}
}

func mustPlan(t *testing.T, d *policy.Direction) *Plan {
	t.Helper()
	p, err := Direction(d)
	if err != nil {
		t.Fatalf("Direction: %v", err)
	}
	return p
}

func TestPlanDesignExample(t *testing.T) {
	p := mustPlan(t, designEgress())
	if p.Kind != "htb" || p.Handle != 0x10000 || p.Default != 0x10030 {
		t.Fatalf("root = %s %#x default %#x, want htb 0x10000 default 0x10030", p.Kind, p.Handle, p.Default)
	}
	want := []Class{
		{Name: "", ClassID: 0x10001, Parent: 0x10000, RateBytes: 12500000, CeilBytes: 12500000, Burst: 12500, CBurst: 12500, Quantum: 200000},
		{Name: "web", ClassID: 0x10010, Parent: 0x10001, RateBytes: 6250000, CeilBytes: 12500000, Burst: 6250, CBurst: 12500, Quantum: 200000, Leaf: true, Apps: []string{"web"}},
		{Name: "mail", ClassID: 0x10020, Parent: 0x10001, RateBytes: 3750000, CeilBytes: 12500000, Burst: 3750, CBurst: 12500, Quantum: 200000, Leaf: true, Apps: []string{"mail"}},
		{Name: "other", ClassID: 0x10030, Parent: 0x10001, RateBytes: 2500000, CeilBytes: 12500000, Burst: 3200, CBurst: 12500, Quantum: 200000, Leaf: true},
	}
	if len(p.Classes) != len(want) {
		t.Fatalf("got %d classes, want %d:\n%s", len(p.Classes), len(want), p)
	}
	for i, w := range want {
		if got := p.Classes[i]; fmt.Sprint(got) != fmt.Sprint(w) || got.Leaf != w.Leaf || got.Parent != w.Parent || got.Name != w.Name {
			t.Errorf("class %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	for _, c := range p.Classes {
		if uint64(c.Burst) < c.RateBytes/1000 {
			t.Errorf("%s: burst %d below 1 ms of data at %d B/s", HandleString(c.ClassID), c.Burst, c.RateBytes)
		}
	}
	if id := p.DefaultClassID(); id != 0x10030 {
		t.Errorf("DefaultClassID = %#x", id)
	}
}

func TestDefaultBurstAndQuantum(t *testing.T) {
	tests := []struct {
		rateBytes      uint64
		burst, quantum uint32
	}{
		{8000, 3200, 1600},            // 64kbit: two MTUs; quantum floor
		{125000, 3200, 12500},         // 1mbit
		{12500000, 12500, 200000},     // 100mbit: 1 ms of data; quantum clamped
		{125000000, 125000, 200000},   // 1gbit
		{1250000000, 1250000, 200000}, // 10gbit
		{1500000, 3200, 150000},       // 12mbit: between the clamps
	}
	for _, tt := range tests {
		if got := DefaultBurst(tt.rateBytes); got != tt.burst {
			t.Errorf("DefaultBurst(%d) = %d, want %d", tt.rateBytes, got, tt.burst)
		}
		if got := DefaultQuantum(tt.rateBytes); got != tt.quantum {
			t.Errorf("DefaultQuantum(%d) = %d, want %d", tt.rateBytes, got, tt.quantum)
		}
	}
}

func TestPlanExplicitValuesWin(t *testing.T) {
	d := designEgress()
	d.Classes[0].Burst, d.Classes[0].CBurst, d.Classes[0].Quantum, d.Classes[0].Prio = 20000, 30000, 5000, 3
	p := mustPlan(t, d)
	c, _ := p.ClassByName("web")
	if c.Burst != 20000 || c.CBurst != 30000 || c.Quantum != 5000 || c.Prio != 3 {
		t.Errorf("web = %+v, want the policy's burst/cburst/quantum/prio", c)
	}
}

func TestPlanNestedMinors(t *testing.T) {
	d := &policy.Direction{
		Rate: mbit(100), Default: "bulk",
		Classes: []policy.Class{
			{Name: "web", Rate: mbit(60), Classes: []policy.Class{
				{Name: "video", Rate: mbit(40), Ceil: mbit(60)},
				{Name: "pages", Rate: mbit(20)},
			}},
			{Name: "bulk", Rate: mbit(40)},
		},
	}
	p := mustPlan(t, d)
	want := []struct {
		name       string
		id, parent uint32
		ceil       uint64
		leaf       bool
	}{
		{"", 0x10001, 0x10000, 12500000, false},
		{"web", 0x10010, 0x10001, 12500000, false}, // ceil defaults to the parent's
		{"video", 0x10020, 0x10010, 7500000, true},
		{"pages", 0x10030, 0x10010, 12500000, true},
		{"bulk", 0x10040, 0x10001, 12500000, true},
	}
	for i, w := range want {
		c := p.Classes[i]
		if c.Name != w.name || c.ClassID != w.id || c.Parent != w.parent || c.CeilBytes != w.ceil || c.Leaf != w.leaf {
			t.Errorf("class %d = %s %s parent %s ceil %d leaf %v, want %s %s parent %s ceil %d leaf %v", i,
				c.Name, HandleString(c.ClassID), HandleString(c.Parent), c.CeilBytes, c.Leaf,
				w.name, HandleString(w.id), HandleString(w.parent), w.ceil, w.leaf)
		}
	}
	if p.Default != 0x10040 {
		t.Errorf("default = %s, want 1:40", HandleString(p.Default))
	}
}

func TestPlanRateOnly(t *testing.T) {
	p := mustPlan(t, &policy.Direction{Rate: mbit(10)})
	if len(p.Classes) != 1 || !p.Classes[0].Leaf || p.Default != 0x10001 {
		t.Fatalf("rate-only plan = %s", p)
	}
}

func TestPlanMonitorOnly(t *testing.T) {
	for _, d := range []*policy.Direction{nil, {}} {
		p, err := Direction(d)
		if p != nil || err != nil {
			t.Errorf("Direction(%+v) = %v, %v, want nil, nil", d, p, err)
		}
	}
}

// Beyond 255 classes, minors fill the gaps between the multiples of 0x10,
// unique and below MaxMinor.
func TestPlanManyClasses(t *testing.T) {
	cs := make([]policy.Class, 1000)
	for i := range cs {
		cs[i] = policy.Class{Name: fmt.Sprintf("c%d", i), Rate: policy.Rate{Bits: 8000}}
	}
	p, err := Direction(&policy.Direction{Rate: mbit(100), Default: "c0", Classes: cs})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for i, c := range p.Classes[1:] { // [0] is the root class 1:1
		m := c.ClassID & 0xffff
		if seen[m] || m < 0x10 || m >= MaxMinor || i < 255 && m != uint32(i+1)*0x10 {
			t.Fatalf("class %d: minor %#x (repeated %v)", i, m, seen[m])
		}
		seen[m] = true
	}
}

func TestPlanErrors(t *testing.T) {
	many := make([]policy.Class, MaxClasses+1)
	for i := range many {
		many[i] = policy.Class{Name: fmt.Sprintf("c%d", i), Rate: policy.Rate{Bits: 8000}}
	}
	tests := []struct {
		name string
		d    *policy.Direction
		want string
	}{
		{"too many classes", &policy.Direction{Rate: mbit(100), Default: "c0", Classes: many}, "more than 4080 classes"},
		{"no default", &policy.Direction{Rate: mbit(100), Classes: []policy.Class{{Name: "a", Rate: mbit(1)}}}, "no default class"},
		{"default not a leaf", &policy.Direction{Rate: mbit(100), Default: "a", Classes: []policy.Class{
			{Name: "a", Rate: mbit(1), Classes: []policy.Class{{Name: "b", Rate: mbit(1)}}}}}, "not a leaf"},
		{"unknown default", &policy.Direction{Rate: mbit(100), Default: "x", Classes: []policy.Class{{Name: "a", Rate: mbit(1)}}}, "not a leaf"},
		{"ceil below rate", &policy.Direction{Rate: mbit(100), Default: "a", Classes: []policy.Class{{Name: "a", Rate: mbit(10), Ceil: mbit(5)}}}, "ceil 5mbit is below rate 10mbit"},
		{"zero rate", &policy.Direction{Rate: mbit(100), Default: "a", Classes: []policy.Class{{Name: "a"}}}, "rate is zero"},
		{"tbf without latency", &policy.Direction{TBF: &policy.TBF{Rate: 1e6, Burst: 1540}}, "latency or limit"},
		{"tbf peak below rate", &policy.Direction{TBF: &policy.TBF{Rate: 1e6, Burst: 1540, Limit: 3000, Peak: 1e6}}, "peakrate must be above rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Direction(tt.d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			var b interface{ BadInput() bool }
			if !errors.As(err, &b) || !b.BadInput() {
				t.Errorf("err %v is not bad input", err)
			}
		})
	}
}

func TestPlanMaxClasses(t *testing.T) {
	cs := make([]policy.Class, MaxClasses)
	for i := range cs {
		cs[i] = policy.Class{Name: fmt.Sprintf("c%d", i), Rate: policy.Rate{Bits: 8000}}
	}
	p := mustPlan(t, &policy.Direction{Rate: mbit(100), Default: "c0", Classes: cs})
	if last := p.Classes[255].ClassID; last != 0x10ff0 { // Classes[0] is the root class 1:1
		t.Errorf("class 255 = %s, want 1:ff0", HandleString(last))
	}
	if last := p.Classes[len(p.Classes)-1].ClassID; last != 0x10fff {
		t.Errorf("last class = %s, want 1:fff", HandleString(last))
	}
}

func TestPlanTBF(t *testing.T) {
	tests := []struct {
		name string
		in   policy.TBF
		want TBF
	}{
		{"design example", policy.TBF{Rate: 1024000, Burst: 1540, Latency: 50 * time.Millisecond},
			TBF{RateBytes: 128000, Burst: 1540, Limit: 7940, Latency: 50 * time.Millisecond}},
		{"explicit limit", policy.TBF{Rate: 1e6, Burst: 3000, Limit: 10000},
			TBF{RateBytes: 125000, Burst: 3000, Limit: 10000}},
		{"peak caps the limit", policy.TBF{Rate: 8e6, Burst: 20000, Latency: 100 * time.Millisecond, Peak: 16e6},
			// min(1e6*0.1+20000, 2e6*0.1+1600) = 120000
			TBF{RateBytes: 1e6, Burst: 20000, Limit: 120000, Latency: 100 * time.Millisecond, PeakBytes: 2e6, MTU: 1600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, &policy.Direction{TBF: &tt.in})
			if p.Kind != "tbf" || p.Handle != RootHandle || *p.TBF != tt.want {
				t.Errorf("plan = %s %+v, want tbf 1: %+v", p.Kind, *p.TBF, tt.want)
			}
		})
	}
}

func TestPlanString(t *testing.T) {
	got := mustPlan(t, designEgress()).String()
	want := `1: htb default 1:30
  1:1 rate 100mbit ceil 100mbit burst 12500b cburst 12500b quantum 200000 prio 0
    1:10 web rate 50mbit ceil 100mbit burst 6250b cburst 12500b quantum 200000 prio 0 apps [web]
    1:20 mail rate 30mbit ceil 100mbit burst 3750b cburst 12500b quantum 200000 prio 0 apps [mail]
    1:30 other rate 20mbit ceil 100mbit burst 3200b cburst 12500b quantum 200000 prio 0
`
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestTCCommands(t *testing.T) {
	got := strings.Join(mustPlan(t, designEgress()).TCCommands("eth0"), "\n")
	want := `tc qdisc add dev eth0 root handle 1: htb default 30
tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit ceil 100mbit burst 12500 cburst 12500 quantum 200000 prio 0
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 50mbit ceil 100mbit burst 6250 cburst 12500 quantum 200000 prio 0
tc class add dev eth0 parent 1:1 classid 1:20 htb rate 30mbit ceil 100mbit burst 3750 cburst 12500 quantum 200000 prio 0
tc class add dev eth0 parent 1:1 classid 1:30 htb rate 20mbit ceil 100mbit burst 3200 cburst 12500 quantum 200000 prio 0`
	if got != want {
		t.Errorf("TCCommands =\n%s\nwant\n%s", got, want)
	}
	tbf := mustPlan(t, &policy.Direction{TBF: &policy.TBF{Rate: 1024000, Burst: 1540, Latency: 50 * time.Millisecond}})
	if got, want := strings.Join(tbf.TCCommands("eth0"), "\n"), "tc qdisc add dev eth0 root handle 1: tbf rate 1024kbit burst 1540 limit 7940"; got != want {
		t.Errorf("TBF TCCommands = %q, want %q", got, want)
	}
}

func TestFormatRateAndHandle(t *testing.T) {
	rates := map[uint64]string{0: "0bit", 12500000: "100mbit", 128000: "1024kbit", 125000000: "1gbit", 1250000000: "10gbit", 1001: "8008bit", 125: "1kbit"}
	for in, want := range rates {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", in, got, want)
		}
	}
	handles := map[uint32]string{0x10000: "1:", 0x10010: "1:10", 0x10ff0: "1:ff0", 0xFFFFFFFF: "root", 0: "0:", 0x10001: "1:1"}
	for in, want := range handles {
		if got := HandleString(in); got != want {
			t.Errorf("HandleString(%#x) = %q, want %q", in, got, want)
		}
	}
}

// The kernel keeps buffers in 64 ns ticks; tc truncates to whole
// microseconds both ways, so converting back loses up to two microseconds
// of data, and a TBF given its burst in bytes stores exact
// nanoseconds. Both must compare equal to the plan's value.
func TestTickRoundTrip(t *testing.T) {
	for _, rate := range []uint64{1000, 8000, 128000, 1250000, 12500000, 125000000, 1250000000, 5000000000} {
		for _, size := range []uint32{1540, 1600, 3200, 6250, 12500, 125000, 1250000} {
			if !burstFits(rate, size) {
				continue
			}
			ticks := DefaultPsched.Xmittime(rate, size)
			back := DefaultPsched.Xmitsize(rate, ticks)
			twoUsec := 2*rate/1e6 + 1
			if back > size || uint64(size-back) > twoUsec {
				t.Errorf("rate %d size %d: round trip %d, more than %d bytes off", rate, size, back, twoUsec)
			}
			exact := uint32(uint64(size) * 1e9 / rate >> 6) // kernel: psched_l2t_ns >> PSCHED_SHIFT
			if !DefaultPsched.ticksClose(ticks, exact) {
				t.Errorf("rate %d size %d: tc ticks %d vs kernel ticks %d not close", rate, size, ticks, exact)
			}
		}
	}
}

// Kept minors survive an inserted class; a new class never takes the
// minor of a removed one.
func TestPlanKeepingMinors(t *testing.T) {
	dir := func(names ...string) *policy.Direction {
		d := &policy.Direction{Rate: policy.Rate{Bits: 100e6}, Default: names[len(names)-1]}
		for _, n := range names {
			d.Classes = append(d.Classes, policy.Class{Name: n, Rate: policy.Rate{Bits: 10e6}, Ceil: policy.Rate{Bits: 100e6}})
		}
		return d
	}
	first, err := Keeping(dir("web", "mail", "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keep := first.Minors()
	if keep["web"] != 0x10 || keep["mail"] != 0x20 || keep["other"] != 0x30 {
		t.Fatalf("first minors %v", keep)
	}
	keep["gone"] = 0x40 // a class an earlier apply had
	second, err := Keeping(dir("web", "video", "mail", "other"), keep)
	if err != nil {
		t.Fatal(err)
	}
	got := second.Minors()
	want := map[string]uint32{"web": 0x10, "video": 0x50, "mail": 0x20, "other": 0x30}
	for n, id := range want {
		if got[n] != id {
			t.Errorf("%s: minor %#x, want %#x (all: %v)", n, got[n], id, got)
		}
	}
	if second.Default != RootHandle|0x30 {
		t.Errorf("default moved to %s", HandleString(second.Default))
	}
	// Parents still come before children, in file order.
	if second.Classes[2].Name != "video" {
		t.Errorf("plan order %v", second.Classes)
	}
}

// TBFSize: 1 ms of data, at least two frames, plus latency's worth of queue.
func TestTBFSize(t *testing.T) {
	for _, tt := range []struct {
		rate         uint64
		frame        uint32
		latency      time.Duration
		burst, limit uint32
	}{
		{rate: 1_250_000, frame: 1514, latency: 50 * time.Millisecond, burst: 3028, limit: 62500 + 3028},  // 10mbit: two frames
		{rate: 125_000_000, frame: 1514, latency: 50 * time.Millisecond, burst: 125000, limit: 6_375_000}, // 1gbit: 1 ms
		{rate: 128_000, frame: 1514, latency: 0, burst: 3028, limit: 3028},
	} {
		b, l := TBFSize(tt.rate, tt.frame, tt.latency)
		if b != tt.burst || l != tt.limit {
			t.Errorf("TBFSize(%d, %d, %s) = %d, %d; want %d, %d", tt.rate, tt.frame, tt.latency, b, l, tt.burst, tt.limit)
		}
	}
}
