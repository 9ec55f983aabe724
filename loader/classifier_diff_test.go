package loader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
)

// sibling loads another copy of c's program with other knobs, sharing all
// of c's maps (rules and counters), so that one rule update serves both.
func sibling(t testing.TB, c *Classifier, k Knobs) *ebpf.Program {
	t.Helper()
	spec, err := bpf.LoadClassifier()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]uint8{"ingress": boolByte(k.Ingress), "shaped": boolByte(k.Shaped), "link_type": uint8(k.Link),
		"ident_test": boolByte(k.IdentTest)} {
		if err := setKnob(spec, name, v); err != nil {
			t.Fatal(err)
		}
	}
	repl := map[string]*ebpf.Map{}
	mv := reflect.ValueOf(c.objs.ClassifierMaps)
	for i := range mv.NumField() {
		name := mv.Type().Field(i).Tag.Get("ebpf")
		m := mv.Field(i).Interface().(*ebpf.Map)
		spec.Maps[name].MaxEntries = m.MaxEntries()
		repl[name] = m
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"shaper_classify"`
	}
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		t.Fatalf("load sibling %+v: %v", k, err)
	}
	t.Cleanup(func() { objs.Prog.Close() })
	return objs.Prog
}

// diffProg is one program of the differential test and the frames it takes.
type diffProg struct {
	name string
	prog *ebpf.Program
	k    Knobs
}

// TestClassifierDifferential holds the BPF program against the reference
// (classify.Parse then classify.Match): random policies (each installed
// with a generation swap into the same maps) × random frames of every kind
// classifytest.RandomFrame makes (non-IP, VLAN tags, L3 frames, IPv4
// options and AH, IPv6 extension chains with AH anywhere, chains longer
// than the parser walks, first and later fragments, headers beyond 512
// bytes, frames cut short), each run by one of six programs: Ethernet, L3
// and network-header-relative links, egress and ingress (the tuple
// reversed). Each frame's app is read from the app counter that advanced
// and its class from skb->priority. Address fields take the path Compile
// chose (hash probes for few prefix lengths, the LPM trie for more); one
// policy in four is installed with every field forced to the trie.
// SHAPER_DIFF_POLICIES overrides the number of policies.
// diffFlows sizes the differential tests' flow table: each packet has its
// own owner, so setIdent empties the table before it, and walking a small
// table is cheap.
const diffFlows = 64

func TestClassifierDifferential(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true, IdentTest: true, Flows: diffFlows}, "")
	var progs []diffProg
	for _, link := range []LinkKind{LinkEthernet, LinkL3, LinkOther} {
		for _, in := range []bool{false, true} {
			k := Knobs{Shaped: true, Ingress: in, Link: link, IdentTest: true, Flows: diffFlows}
			progs = append(progs, diffProg{fmt.Sprintf("link %d ingress %v", link, in), sibling(t, c, k), k})
		}
	}
	policies, packets := 2000, 40 // an update with wide port ranges rewrites 2×65536 entries
	if testing.Short() {
		policies = 200
	}
	if n, err := strconv.Atoi(os.Getenv("SHAPER_DIFF_POLICIES")); err == nil {
		policies = n
	}
	r := rand.New(rand.NewPCG(5, 6))
	matched := 0
	var paths classifytest.Paths
	kinds, runs := map[string]int{}, map[string]int{}
	for i := range policies {
		apps := classifytest.Apps(r, 8)
		b := classifytest.Binding(r, apps)
		tab, err := classify.Compile(apps, b)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if r.IntN(4) == 0 {
			for f := range tab.Addr {
				tab.Addr[f].LPM = true
			}
		}
		paths.Add(tab)
		if err := c.Update(tab); err != nil {
			t.Fatalf("update: %v", err)
		}
		for range packets {
			f := classifytest.RandomFrame(r)
			p := pickProg(r, progs, f)
			owner := classifytest.WithOwner(r, classify.Packet{})
			setIdent(t, c, owner)
			wp := wantPacket(f, p.k)
			wp.Comm, wp.Cgroup = owner.Comm, owner.Cgroup
			want := classify.Match(apps, b, wp)
			before := clsCount(t, c.objs.AppStats, want.App)
			ret, prio, err := clsRun(p.prog, f.Bytes, 0, 0, 0)
			if err != nil || ret != bpf.TCXNext {
				t.Fatalf("%s: run %s frame % x: ret %d err %v", p.name, f.What, f.Bytes, int32(ret), err)
			}
			got := clsDelta(clsCount(t, c.objs.AppStats, want.App), before)
			if got.Packets != 1 || prio != want.ClassID {
				t.Fatalf("policy %d %+v\naddress plans %+v\n%s: %s frame (%d vlans) % x\nparsed %+v\nwant app %d class %#x; "+
					"app %d counted %d packets, priority %#x",
					i, apps, tab.Addr, p.name, f.What, f.VLANs, f.Bytes, f.Want, want.App, want.ClassID, want.App, got.Packets, prio)
			}
			if want.App != 0 {
				matched++
			}
			kinds[classifytest.Kind(f)]++
			runs[p.name]++
		}
	}
	if total := policies * packets; matched < total/6 {
		t.Errorf("only %d of %d packets matched an app: the test says little", matched, total)
	}
	if err := paths.Enough(policies / 10); err != nil {
		t.Error(err)
	}
	if err := classifytest.EnoughKinds(kinds, policies*packets/1000); err != nil {
		t.Error(err)
	}
	t.Logf("%d policies × %d frames agree; %d frames matched an app; programs %v; frame kinds %v; address fields: %+v",
		policies, packets, matched, runs, kinds, paths)
}

// setIdent makes the programs (knob ident_test) see p's socket owner.
func setIdent(t testing.TB, c *Classifier, p classify.Packet) {
	t.Helper()
	id := bpf.ClassifierIdent{Cgroup: p.Cgroup}
	for i := 0; i < len(p.Comm) && i < bpf.CommLen-1; i++ {
		id.Comm[i] = int8(p.Comm[i])
	}
	if err := c.objs.TestIdent.Update(uint32(0), id, ebpf.UpdateAny); err != nil {
		t.Fatalf("set test ident: %v", err)
	}
	// A tuple's owner is one socket's for the flow's life, and the flow
	// table keeps the verdict made for it: a new owner is a new flow.
	var k bpf.ClassifierFlowKey
	for it := c.objs.Flows.Iterate(); it.Next(&k, new(bpf.ClassifierFlowVal)); {
		if err := c.objs.Flows.Delete(k); err != nil {
			t.Fatalf("clear flows: %v", err)
		}
	}
}

// pickProg chooses a program that can take f: an L3 frame goes to an L3
// program; an Ethernet one to an Ethernet program or, untagged, to a
// network-header-relative one (the test run's network header follows the
// Ethernet header; it does not look through VLAN tags).
func pickProg(r *rand.Rand, progs []diffProg, f classifytest.Frame) diffProg {
	dir := r.IntN(2)
	switch {
	case f.Link == classify.LinkL3:
		return progs[2+dir]
	case f.VLANs == 0 && r.IntN(3) == 0:
		return progs[4+dir]
	}
	return progs[dir]
}

// wantPacket is the tuple the program matches: reversed at ingress.
func wantPacket(f classifytest.Frame, k Knobs) classify.Packet {
	if k.Ingress {
		return f.Want.Reversed()
	}
	return f.Want
}

// TestClassifierDifferentialLarge holds the program against the reference
// at 10,000 apps: single-field selectors by the thousand (prefixes, ports,
// processes, cgroups) and 256 multi-field ones among them, each policy
// installed by a generation swap, packets aimed at the listed values.
func TestClassifierDifferentialLarge(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true, IdentTest: true, Flows: diffFlows}, "")
	in := sibling(t, c, Knobs{Shaped: true, Ingress: true, IdentTest: true, Flows: diffFlows})
	r := rand.New(rand.NewPCG(7, 8))
	policies, packets := 4, 500
	if testing.Short() {
		policies = 2
	}
	matched, multiWins := 0, 0
	for i := range policies {
		apps := classifytest.LargeApps(r, 10_000, bpf.MaxMulti)
		b := classifytest.Binding(r, apps)
		tab, err := classify.Compile(apps, b)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if len(tab.Sel) < 10_000 || len(tab.MultiIdx) < bpf.MaxMulti/2 {
			t.Fatalf("policy %d: %d selectors, %d multi-field: too few for the test", i, len(tab.Sel), len(tab.MultiIdx))
		}
		if err := c.Update(tab); err != nil {
			t.Fatalf("update: %v", err)
		}
		for range packets {
			p := classifytest.LargePacket(r)
			ingress := r.IntN(2) == 0
			prog, wire := c.Program(), p
			if ingress {
				prog, wire = in, p.Reversed()
			}
			frame := benchPacket(wire)
			// The tuple as the program reads the frame (a TCP header
			// follows whatever the protocol), as egress sees the flow.
			seen := classify.Parse(frame, classify.LinkEthernet)
			if ingress {
				seen = seen.Reversed()
			}
			seen.Comm, seen.Cgroup = p.Comm, p.Cgroup
			setIdent(t, c, p)
			want := classify.Match(apps, b, seen)
			before := clsCount(t, c.objs.AppStats, want.App)
			ret, prio, err := clsRun(prog, frame, 0, 0, 0)
			if err != nil || ret != bpf.TCXNext {
				t.Fatalf("run: ret %d err %v", int32(ret), err)
			}
			if got := clsDelta(clsCount(t, c.objs.AppStats, want.App), before); got.Packets != 1 || prio != want.ClassID {
				t.Fatalf("policy %d, packet %+v (ingress %v): want app %d class %#x; app %d counted %d, priority %#x",
					i, p, ingress, want.App, want.ClassID, want.App, got.Packets, prio)
			}
			if want.App != 0 {
				matched++
				if len(apps[want.App-1].Match[0].Dst) > 0 && len(apps[want.App-1].Match[0].Protos)+
					len(apps[want.App-1].Match[0].SPorts)+len(apps[want.App-1].Match[0].DPorts) > 0 {
					multiWins++
				}
			}
		}
	}
	if total := policies * packets; matched < total/2 || multiWins == 0 {
		t.Errorf("%d of %d packets matched, %d by a multi-field selector: the test says little", matched, total, multiWins)
	}
	t.Logf("%d policies of 10,000 apps × %d packets agree; %d matched, %d by a multi-field selector", policies, packets, matched, multiWins)
}
