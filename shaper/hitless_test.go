package shaper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
	"github.com/shaperdev/shaper/shaper/plan"
)

// movePolicy puts app bulk (the iperf3 flow) in class %s; class b's rate
// is %s.
const movePolicy = `
version: 1
apps:
  - {name: bulk, match: [{proto: tcp, dport: 5201}]}
interfaces:
  - name: eth0
    netns: %%s
    egress:
      rate: 40mbit
      default: other
      classes:
        - {name: a,     rate: 20mbit, ceil: 40mbit%s}
        - {name: b,     rate: %s, ceil: 40mbit%s}
        - {name: other, rate: 5mbit,  ceil: 40mbit}
`

func movePolicyIn(class, rateB string) string {
	inA, inB := "", ""
	if class == "a" {
		inA = ", apps: [bulk]"
	} else {
		inB = ", apps: [bulk]"
	}
	return fmt.Sprintf(movePolicy, inA, rateB, inB)
}

const (
	classA = 0x10010
	classB = 0x10020
)

// reapply applies text to the lab's client eth0 (already managed) and
// returns how long Apply took.
func reapply(t *testing.T, lab *netlab.Lab, text string) time.Duration {
	t.Helper()
	pol, err := policy.Parse(t.Name()+".yaml", []byte(fmt.Sprintf(text, lab.Netns("client"))))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	t0 := time.Now()
	if err := shaper.Apply(pol, shaper.ApplyOptions{}); err != nil {
		t.Fatalf("re-apply: %v", err)
	}
	return time.Since(t0)
}

// dryRun is what `apply --dry-run` says text would change.
func dryRun(t *testing.T, lab *netlab.Lab, text string) string {
	t.Helper()
	pol, err := policy.Parse(t.Name()+".yaml", []byte(fmt.Sprintf(text, lab.Netns("client"))))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	var out strings.Builder
	if err := shaper.Apply(pol, shaper.ApplyOptions{DryRun: true, Out: &out}); err != nil {
		t.Fatalf("dry-run: %v", err)
	}
	return out.String()
}

// hooksOf lists the program ids on client eth0's hooks, and the handles of
// its qdisc and classes.
func hooksOf(t *testing.T, lab *netlab.Lab) (progs []string, handles []string) {
	t.Helper()
	err := labtest.In(lab.Netns("client"), func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		hs, err := loader.List(l.Attrs().Index, "shaper")
		if err != nil {
			return err
		}
		for _, h := range hs {
			progs = append(progs, fmt.Sprintf("%s %s %d", h.Dir, h.Kind, h.ProgID))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := kernelState(t, lab, "eth0")
	handles = append(handles, fmt.Sprintf("root %#x", st.Root.Handle))
	for _, c := range st.Classes {
		handles = append(handles, fmt.Sprintf("class %#x parent %#x", c.ClassID, c.Parent))
	}
	return progs, handles
}

// iperfIntervals is what iperf3 -J said per interval: bytes and end time.
type iperfIntervals struct {
	Intervals []struct {
		Sum struct {
			Start, End float64
			Bytes      uint64
		} `json:"sum"`
	} `json:"intervals"`
}

// TestHitlessMove: during a 10 s upload, a re-apply moves the flow's app
// to another class, then changes that class's rate. The move is a map
// write (no program load: the same program ids; no qdisc or class
// rebuilt: the same handles) that the running flow follows at once (its
// flow table entry's generation is stale: the rules are evaluated again);
// the rate change is `tc class change`. No 0.5 s interval of the flow is
// empty.
func TestHitlessMove(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	applyPolicy(t, lab, movePolicyIn("a", "10mbit"))
	progs0, handles0 := hooksOf(t, lab)

	iperfServer(t, lab, 5201)
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	out := &strings.Builder{}
	cl := lab.Command(ctx, "client", "iperf3", "-J", "-i", "0.5", "-c", "198.18.0.2", "-p", "5201", "-t", "10")
	cl.Stdout = out
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	before := kernelState(t, lab, "eth0")
	moveTook := reapply(t, lab, movePolicyIn("b", "10mbit"))
	progs1, handles1 := hooksOf(t, lab)
	time.Sleep(time.Second) // what class a had queued drains
	moved := kernelState(t, lab, "eth0")
	time.Sleep(2 * time.Second)
	after := kernelState(t, lab, "eth0")
	if plan := dryRun(t, lab, movePolicyIn("b", "15mbit")); !strings.Contains(plan, "change class 1:20") ||
		strings.Contains(plan, "delete class") || strings.Contains(plan, "root qdisc") {
		t.Errorf("the rate change is not a class change in place:\n%s", plan)
	}
	rateTook := reapply(t, lab, movePolicyIn("b", "15mbit"))
	progs2, handles2 := hooksOf(t, lab)
	if err := cl.Wait(); err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	t.Logf("move took %s, rate change %s", moveTook, rateTook)

	aBefore, aAfter := classBytes(t, before, classA), classBytes(t, after, classA)
	aMoved := classBytes(t, moved, classA)
	bMoved, bAfter := classBytes(t, moved, classB), classBytes(t, after, classB)
	t.Logf("class a: %d bytes before the move, %d 1 s after it, %d 3 s after; class b: %d 1 s after, %d 3 s after",
		aBefore, aMoved, aAfter, bMoved, bAfter)
	// At 40mbit 2 s are 10 MB. Class a sends what it had queued at the
	// move within the first second; after that it must see nothing of
	// the flow, and b all of it.
	if aAfter-aMoved > 3000 {
		t.Errorf("class a counted %d bytes from 1 s to 3 s after the move: the running flow did not move", aAfter-aMoved)
	}
	if bAfter-bMoved < 5_000_000 {
		t.Errorf("class b counted %d bytes from 1 s to 3 s after the move: the flow did not arrive there", bAfter-bMoved)
	}
	for i, p := range [][]string{progs1, progs2} {
		if strings.Join(p, ",") != strings.Join(progs0, ",") {
			t.Errorf("re-apply %d: programs %v, were %v: a program was reloaded", i+1, p, progs0)
		}
	}
	for i, h := range [][]string{handles1, handles2} {
		if strings.Join(h, ",") != strings.Join(handles0, ",") {
			t.Errorf("re-apply %d: qdisc and classes %v, were %v", i+1, h, handles0)
		}
	}
	if c, ok := kernelState(t, lab, "eth0").Class(classB); !ok || c.RateBytes != 15_000_000/8 {
		t.Errorf("class b after the rate change: %+v, want 15mbit", c)
	}
	flowsEqualApp(t, lab, "bulk")
	var res iperfIntervals
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("iperf3 JSON: %v\n%s", err, out)
	}
	if len(res.Intervals) < 19 {
		t.Fatalf("iperf3 gave %d intervals, want 20", len(res.Intervals))
	}
	var low uint64 = 1 << 63
	for _, iv := range res.Intervals {
		low = min(low, iv.Sum.Bytes)
		if iv.Sum.Bytes == 0 {
			t.Errorf("interval %.1f-%.1f s: no byte: the flow stalled", iv.Sum.Start, iv.Sum.End)
		}
	}
	t.Logf("%d intervals of 0.5 s, the lowest %d bytes (%.1f mbit/s)", len(res.Intervals), low, float64(low)*16/1e6)
}

func classBytes(t *testing.T, st *plan.KernelState, id uint32) uint64 {
	t.Helper()
	c, ok := st.Class(id)
	if !ok {
		t.Fatalf("no class %#x", id)
	}
	return c.Stats.Bytes
}

// flowsEqualApp checks that app's egress bytes and packets equal the sum
// of its flows' (nothing was evicted: a handful of flows).
func flowsEqualApp(t *testing.T, lab *netlab.Lab, app string) {
	t.Helper()
	ns := lab.Netns("client")
	st, err := shaper.LoadState(ns, "eth0")
	if err != nil || st == nil {
		t.Fatalf("state: %v", err)
	}
	id := st.AppIDs[app]
	_, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", loader.Egress))
	if err != nil {
		t.Fatal(err)
	}
	flows, ft, err := loader.ReadFlows(loader.SharedDir(ns, "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	var sum loader.Counter
	n := 0
	for _, f := range flows {
		if f.Seen[0] && f.App[0] == id {
			sum.Bytes += f.Bytes[0]
			sum.Packets += f.Packets[0]
			n++
		}
	}
	t.Logf("app %s: %+v counted, %d flows sum to %+v; table %+v", app, apps[id], n, sum, ft)
	if n == 0 || sum != apps[id] {
		t.Errorf("app %s counted %+v, its %d flows sum to %+v", app, apps[id], n, sum)
	}
}
