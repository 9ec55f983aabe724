package shaper

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// The fast paths of a re-apply (engine_fast.go), checked against the
// kernel: what must stay stays, what must change changes, and packets are
// classified by the rules the policy says.

// hookIDs is what identifies the kernel objects of one hook.
type hookIDs struct {
	prog ebpf.ProgramID
	link link.ID
	maps map[string]ebpf.MapID
	gen  uint32
}

func egressIDs(t *testing.T, ns string) hookIDs {
	t.Helper()
	o := observe(t, ns, "eth0")
	ours := o.ours()
	if len(ours) != 1 {
		t.Fatalf("want 1 program of ours on eth0, have %+v", o.hooks)
	}
	ids := hookIDs{prog: ours[0].ProgID, link: ours[0].LinkID, maps: map[string]ebpf.MapID{}}
	pin := loader.PinDir(ns, "eth0", loader.Egress)
	files, err := os.ReadDir(pin)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		m, err := ebpf.LoadPinnedMap(filepath.Join(pin, f.Name()), nil)
		if err != nil {
			continue // the link or program pin
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		ids.maps[f.Name()], _ = info.ID()
	}
	c, err := loader.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ids.gen, err = c.Gen(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func classPackets(t *testing.T, ns string, id uint32) uint64 {
	t.Helper()
	c, ok := observe(t, ns, "eth0").state.Class(id)
	if !ok {
		t.Fatalf("class %s missing", plan.HandleString(id))
	}
	return c.Stats.Packets
}

// handles lists the root qdisc and class handles with their parameters.
func handles(o observed) []string {
	out := []string{o.state.Root.Kind + " " + plan.HandleString(o.state.Root.Handle)}
	for _, c := range o.state.Classes {
		out = append(out, plan.HandleString(c.ClassID)+" parent "+plan.HandleString(c.Parent))
	}
	slices.Sort(out)
	return out
}

// A no-op re-apply touches nothing: same program, link, maps, generation,
// qdisc and classes; and the counters go on counting.
func TestReapplyNoopKeepsEverything(t *testing.T) {
	lab, ns := engineLab(t)
	pol := mustParse(t, engPolicy, ns, "4mbit")
	mustApply(t, pol, ApplyOptions{})
	ping(t, lab, 5)
	ids0, obs0 := egressIDs(t, ns), observe(t, ns, "eth0")
	apps0 := appCounters(t, ns)
	icmp0 := classPackets(t, ns, 0x10020)

	mustApply(t, pol, ApplyOptions{})
	ids1, obs1 := egressIDs(t, ns), observe(t, ns, "eth0")
	if ids0.prog != ids1.prog || ids0.link != ids1.link || ids0.gen != ids1.gen {
		t.Errorf("no-op re-apply changed the hook: prog %d→%d link %d→%d gen %d→%d",
			ids0.prog, ids1.prog, ids0.link, ids1.link, ids0.gen, ids1.gen)
	}
	if len(ids0.maps) < 10 || !maps.Equal(ids0.maps, ids1.maps) {
		t.Errorf("maps changed: %v → %v", ids0.maps, ids1.maps)
	}
	if h0, h1 := handles(obs0), handles(obs1); !slices.Equal(h0, h1) {
		t.Errorf("qdisc/classes changed: %v → %v", h0, h1)
	}
	ping(t, lab, 5)
	if got := classPackets(t, ns, 0x10020) - icmp0; got < 5 {
		t.Errorf("icmp class counted %d packets after the re-apply, want >= 5", got)
	}
	st, _ := LoadState(ns, "eth0")
	id := st.AppIDs["ping"]
	if got := appCounters(t, ns)[id].Packets - apps0[id].Packets; got < 5 {
		t.Errorf("app ping counted %d packets after the re-apply, want >= 5", got)
	}
}

// A rules-only change keeps the program and its maps, flips the
// generation, and the new rules classify: pings leave their class for the
// default one, and come back when the rule does.
func TestReapplyRulesOnlyKeepsProgram(t *testing.T) {
	lab, ns := engineLab(t)
	pol := mustParse(t, engPolicy, ns, "4mbit")
	moved := mustParse(t, strings.Replace(engPolicy, "{proto: icmp}", "{proto: udp, dport: 53}", 1), ns, "4mbit")
	mustApply(t, pol, ApplyOptions{})
	ids0 := egressIDs(t, ns)

	for i, p := range []struct {
		pol             *policy.Policy
		toIcmp, toOther uint64
	}{{moved, 0, 5}, {pol, 5, 0}} {
		mustApply(t, p.pol, ApplyOptions{})
		ids := egressIDs(t, ns)
		if ids.prog != ids0.prog || ids.link != ids0.link || !maps.Equal(ids.maps, ids0.maps) {
			t.Errorf("change %d reloaded: prog %d→%d link %d→%d maps %v→%v", i, ids0.prog, ids.prog, ids0.link, ids.link, ids0.maps, ids.maps)
		}
		if want := ids0.gen ^ uint32(i+1)&1; ids.gen != want {
			t.Errorf("change %d: generation %d, want %d (flipped)", i, ids.gen, want)
		}
		icmp, other := classPackets(t, ns, 0x10020), classPackets(t, ns, 0x10030)
		ping(t, lab, 5)
		gotIcmp, gotOther := classPackets(t, ns, 0x10020)-icmp, classPackets(t, ns, 0x10030)-other
		if gotIcmp < p.toIcmp || gotOther < p.toOther || (p.toIcmp == 0 && gotIcmp != 0) || (p.toOther == 0 && gotOther > 1) {
			t.Errorf("change %d: 5 pings went %d to icmp, %d to other; want %d and %d", i, gotIcmp, gotOther, p.toIcmp, p.toOther)
		}
	}
}

// Drift: our TCX link (or cls_bpf filter) removed by hand behind shaper's
// back is put back by the next apply of the same policy.
func TestReapplyRepairsDrift(t *testing.T) {
	for _, mode := range attachModes(t) {
		t.Run(mode, func(t *testing.T) {
			lab, ns := engineLab(t)
			pol := mustParse(t, engPolicy, ns, "4mbit")
			mustApply(t, pol, ApplyOptions{Attach: mode})
			pin := loader.PinDir(ns, "eth0", loader.Egress)
			if mode == "tc" {
				if out, err := lab.Exec(t.Context(), "client", "tc", "filter", "del", "dev", "eth0", "egress",
					"pref", fmt.Sprint(loader.FilterPrio)); err != nil {
					t.Fatalf("tc filter del: %v\n%s", err, out)
				}
			}
			err := labtest.In(ns, func() error {
				if mode == "tc" {
					return nil
				}
				l, err := link.LoadPinnedLink(filepath.Join(pin, "link"), nil)
				if err != nil {
					return err
				}
				defer l.Close()
				if err := l.Detach(); err != nil {
					return err
				}
				return os.Remove(filepath.Join(pin, "link"))
			})
			if err != nil {
				t.Fatalf("remove by hand: %v", err)
			}
			if n := len(observe(t, ns, "eth0").ours()); n != 0 {
				t.Fatalf("%d programs of ours left after removing by hand", n)
			}
			mustApply(t, pol, ApplyOptions{Attach: mode})
			ours := observe(t, ns, "eth0").ours()
			if len(ours) != 1 || ours[0].Kind != mode {
				t.Fatalf("after re-apply: want one %s program of ours, have %+v", mode, ours)
			}
			icmp := classPackets(t, ns, 0x10020)
			ping(t, lab, 5)
			if got := classPackets(t, ns, 0x10020) - icmp; got < 5 {
				t.Errorf("icmp class counted %d of 5 pings after the repair", got)
			}
		})
	}
}

// Both directions, legacy tc, monitor-only: a no-op re-apply keeps both
// programs, a rules-only change keeps them too and both count by the new
// rules.
func TestReapplyBothDirectionsTC(t *testing.T) {
	lab, ns := engineLab(t)
	text := `
version: 1
apps: [{name: ping, match: [%[2]s]}]
interfaces: [{name: eth0, netns: %[1]s, egress: {}, ingress: {}}]
`
	pol := mustParse(t, text, ns, "{proto: icmp}")
	progs := func() map[string]ebpf.ProgramID {
		out := map[string]ebpf.ProgramID{}
		for _, h := range observe(t, ns, "eth0").ours() {
			out[h.Dir.String()] = h.ProgID
		}
		return out
	}
	mustApply(t, pol, ApplyOptions{Attach: "tc"})
	first := progs()
	if len(first) != 2 {
		t.Fatalf("want a program of ours per direction, have %v", first)
	}
	mustApply(t, pol, ApplyOptions{Attach: "tc"})
	mustApply(t, mustParse(t, text, ns, "{proto: udp, dport: 53}"), ApplyOptions{Attach: "tc"})
	if got := progs(); !maps.Equal(got, first) {
		t.Errorf("programs replaced: %v → %v", first, got)
	}
	st, _ := LoadState(ns, "eth0")
	id := st.AppIDs["ping"]
	before, beforeID := map[loader.Direction]loader.Counter{}, map[loader.Direction]loader.Counter{}
	for _, dir := range loader.Directions {
		_, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", dir))
		if err != nil {
			t.Fatal(err)
		}
		before[dir], beforeID[dir] = apps[0], apps[id]
		if rec := st.Loaded[dir.String()]; rec == nil || rec.Gens[0] != rec.Gens[1] || rec.Gens[0] == "" {
			t.Errorf("%s: record %+v: want both generations holding the rules", dir, rec)
		}
	}
	ping(t, lab, 5) // no longer the ping app: unmatched (app 0) both ways
	for _, dir := range loader.Directions {
		_, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", dir))
		if err != nil {
			t.Fatal(err)
		}
		if got := apps[0].Packets - before[dir].Packets; got < 5 {
			t.Errorf("%s: %d pings unmatched after the change, want >= 5", dir, got)
		}
		if apps[id] != beforeID[dir] {
			t.Errorf("%s: app ping still counts after its rule changed: %+v → %+v", dir, beforeID[dir], apps[id])
		}
	}
}
