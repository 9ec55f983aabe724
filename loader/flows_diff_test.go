package loader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
	"github.com/shaperdev/shaper/policy"
)

// siblings are the six programs of the differential tests (Ethernet, L3
// and network-header-relative links, egress and ingress) on c's maps.
func siblings(t *testing.T, c *Classifier) []diffProg {
	var progs []diffProg
	for _, link := range []LinkKind{LinkEthernet, LinkL3, LinkOther} {
		for _, in := range []bool{false, true} {
			k := Knobs{Shaped: true, Ingress: in, Link: link}
			progs = append(progs, diffProg{fmt.Sprintf("link %d ingress %v", link, in), sibling(t, c, k), k})
		}
	}
	return progs
}

// flowMisses reads flow_misses[0]: packets that found no entry.
func flowMisses(t *testing.T, c *Classifier) uint64 {
	t.Helper()
	var vs []uint64
	if err := c.objs.FlowMisses.Lookup(uint32(0), &vs); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, v := range vs {
		n += v
	}
	return n
}

type pooled struct {
	f classifytest.Frame
	p diffProg
}

// TestFlowTableDifferential holds the flow table against the reference:
// every frame is run three times (the first finds no entry and evaluates
// the rules, the others take the entry's verdict and must not miss), and
// frames seen under earlier policies come back after rule changes, whose
// generation bump must make their entries' verdicts be made again: a
// cached verdict that outlived its rules fails. Each run's app comes from
// the app counter that advanced, its class from skb->priority.
func TestFlowTableDifferential(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	progs := siblings(t, c)
	policies, frames := 400, 30
	if testing.Short() {
		policies = 60
	}
	if n, err := strconv.Atoi(os.Getenv("SHAPER_DIFF_POLICIES")); err == nil {
		policies = n
	}
	r := rand.New(rand.NewPCG(7, 8))
	var pool []pooled
	hits, again, matched := 0, 0, 0
	for i := range policies {
		apps := classifytest.Apps(r, 8)
		b := classifytest.Binding(r, apps)
		tab, err := classify.Compile(apps, b)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if err := c.Update(tab); err != nil {
			t.Fatalf("update: %v", err)
		}
		for range frames {
			var x pooled
			if len(pool) > 0 && r.IntN(2) == 0 {
				x = pool[r.IntN(len(pool))] // seen under an older policy, most likely
				again++
			} else {
				x.f = classifytest.RandomFrame(r)
				x.p = pickProg(r, progs, x.f)
				pool = append(pool, x)
			}
			want := classify.Match(apps, b, wantPacket(x.f, x.p.k))
			if want.App != 0 {
				matched++
			}
			for run := range 3 {
				misses := flowMisses(t, c)
				before := clsCount(t, c.objs.AppStats, want.App)
				ret, prio, err := clsRun(x.p.prog, x.f.Bytes, 0, 0, 0)
				if err != nil || ret != bpf.TCXNext {
					t.Fatalf("%s: run %s: ret %d err %v", x.p.name, x.f.What, int32(ret), err)
				}
				got := clsDelta(clsCount(t, c.objs.AppStats, want.App), before)
				if got.Packets != 1 || prio != want.ClassID {
					t.Fatalf("policy %d %+v\n%s run %d: %s frame % x\nparsed %+v\nwant app %d class %#x; app %d counted %d, priority %#x",
						i, apps, x.p.name, run, x.f.What, x.f.Bytes, x.f.Want, want.App, want.ClassID, want.App, got.Packets, prio)
				}
				if run > 0 && x.f.Want.IsIP {
					if n := flowMisses(t, c); n != misses {
						t.Fatalf("%s run %d of %s: the flow table missed (%d misses more): no entry was kept", x.p.name, run, x.f.What, n-misses)
					}
					hits++
				}
			}
		}
	}
	flows, err := c.Flows()
	if err != nil {
		t.Fatal(err)
	}
	if hits < policies*frames/2 || again < policies*frames/3 {
		t.Errorf("only %d runs hit the table, %d frames came back: the test says little", hits, again)
	}
	t.Logf("%d policies × %d frames × 3 runs agree; %d runs took a cached verdict, %d frames came back after rule changes, "+
		"%d matched an app; %d flows in the table", policies, frames, hits, again, matched, len(flows))
}

// TestFlowTableSums: per-app bytes equal the sum of the app's flows' bytes
// (nothing evicted), and, with one class per app, the class counters.
func TestFlowTableSums(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	progs := siblings(t, c)
	r := rand.New(rand.NewPCG(9, 10))
	apps := classifytest.Apps(r, 8)
	for len(apps) < 3 {
		apps = classifytest.Apps(r, 8)
	}
	b := oneClassPerApp(apps)
	clsUpdate(t, c, apps, b)
	sent := 0
	for sent < 3000 {
		f := classifytest.RandomFrame(r)
		if !f.Want.IsIP {
			continue // non-IP takes the default and no flow: not this test's sum
		}
		p := pickProg(r, progs, f)
		for range 1 + r.IntN(3) {
			if _, _, err := clsRun(p.prog, f.Bytes, 0, uint32(len(f.Bytes)), 0); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	flows, err := c.Flows()
	if err != nil {
		t.Fatal(err)
	}
	perApp := map[uint32]Counter{}
	for _, fl := range flows {
		for d := range 2 {
			if fl.Seen[d] {
				x := perApp[fl.App[d]]
				x.Bytes += fl.Bytes[d]
				x.Packets += fl.Packets[d]
				perApp[fl.App[d]] = x
			}
		}
	}
	appCnt, err := c.AppCounters()
	if err != nil {
		t.Fatal(err)
	}
	classCnt, err := c.ClassCounters()
	if err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for id, want := range appCnt {
		if perApp[id] != want {
			t.Errorf("app %d: counted %+v, its flows sum to %+v", id, want, perApp[id])
		}
		if slot := id + 1; classCnt[slot] != want {
			t.Errorf("app %d: counted %+v, its class (slot %d) %+v", id, want, slot, classCnt[slot])
		}
		if id != 0 && want.Bytes > 0 {
			nonzero++
		}
	}
	if len(perApp) != len(appCnt) {
		t.Errorf("flows name apps %v, the counters %v", perApp, appCnt)
	}
	if nonzero == 0 {
		t.Errorf("no app matched: the test says little")
	}
	t.Logf("%d packets in %d flows; %d apps counted, each equal to its flows' sum and to its class", sent, len(flows), len(appCnt))
}

// oneClassPerApp binds app i (id i+1) to class 1:(i+2), slot i+2, and the
// unmatched to slot 1, so that apps and classes map one to one.
func oneClassPerApp(apps []policy.App) classify.Binding {
	b := classify.Binding{AppID: map[string]uint32{}, AppClass: map[string]classify.Class{},
		Default: classify.Class{ClassID: 0x10001, Slot: 1}, Cgroups: classifytest.Binding(nil, nil).Cgroups}
	for i, a := range apps {
		id := uint32(i + 1)
		b.AppID[a.Name] = id
		b.AppClass[a.Name] = classify.Class{ClassID: 0x10000 + id + 1, Slot: id + 1}
	}
	return b
}
