package shaper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// Engine tests: apply, re-apply, rule-only changes, rollback, delete, in a
// lab of their own. Traffic is pings: these check state, not rates.

const engineTopo = `
name: eng
nodes: {client: {}, server: {}}
links:
  - endpoints:
      - {node: client, iface: eth0, addresses: [198.18.0.1/24]}
      - {node: server, iface: eth0, addresses: [198.18.0.2/24]}
  - endpoints:
      - {node: client, iface: eth1, addresses: [198.18.1.1/24]}
      - {node: server, iface: eth1, addresses: [198.18.1.2/24]}
`

const engPolicy = `
version: 1
apps:
  - {name: web,  match: [{proto: tcp, dport: [80, 443]}]}
  - {name: ping, match: [{proto: icmp}]}
interfaces:
  - name: eth0
    netns: %[1]s
    egress:
      rate: 10mbit
      default: other
      classes:
        - {name: web,   rate: %[2]s, apps: [web]}
        - {name: icmp,  rate: 2mbit, apps: [ping]}
        - {name: other, rate: 2mbit}
`

func engineLab(t *testing.T) (*netlab.Lab, string) {
	t.Helper()
	lab := labtest.Lab(t, engineTopo)
	ns := lab.Netns("client")
	t.Cleanup(func() {
		if err := Delete(DeleteOptions{Netns: ns}); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
	return lab, ns
}

func mustParse(t *testing.T, text string, args ...any) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse(t.Name()+".yaml", []byte(fmt.Sprintf(text, args...)))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	return pol
}

func mustApply(t *testing.T, pol *policy.Policy, o ApplyOptions) {
	t.Helper()
	if err := Apply(pol, o); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// observed is what the kernel has on one interface, for before/after checks.
type observed struct {
	state *plan.KernelState
	hooks []loader.HookProgram
}

func observe(t *testing.T, ns, dev string) observed {
	t.Helper()
	var o observed
	err := labtest.In(ns, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		if o.state, err = ReadState(h, link); err != nil {
			return err
		}
		o.hooks, err = loader.List(link.Attrs().Index, "")
		return err
	})
	if err != nil {
		t.Fatalf("observe %s: %v", dev, err)
	}
	return o
}

func (o observed) ours() []loader.HookProgram {
	var out []loader.HookProgram
	for _, h := range o.hooks {
		if strings.HasPrefix(h.ProgName, progPrefix) {
			out = append(out, h)
		}
	}
	return out
}

func ping(t *testing.T, lab *netlab.Lab, n int) {
	t.Helper()
	if out, err := lab.Exec(t.Context(), "client", "ping", "-c", fmt.Sprint(n), "-i", "0.01", "-q", "198.18.0.2"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	lab, ns := engineLab(t)
	pol := mustParse(t, engPolicy, ns, "4mbit")
	mustApply(t, pol, ApplyOptions{})
	ping(t, lab, 5)
	first := observe(t, ns, "eth0")
	if len(first.ours()) != 1 {
		t.Fatalf("want 1 program of ours on eth0, have %+v", first.hooks)
	}
	mustApply(t, pol, ApplyOptions{})
	second := observe(t, ns, "eth0")
	if d := plan.Diff(mustPlan(t, pol.Interfaces[0].Egress), second.state); len(d) != 0 {
		t.Errorf("kernel differs after re-apply:\n%s", d)
	}
	// The classes were not rebuilt: their counters went on.
	c1, _ := first.state.Class(0x10020)
	c2, _ := second.state.Class(0x10020)
	if c1.Stats.Packets < 5 || c2.Stats.Packets < c1.Stats.Packets {
		t.Errorf("icmp class packets %d then %d: want >= 5 and not reset", c1.Stats.Packets, c2.Stats.Packets)
	}
	if a, b := first.ours()[0], second.ours()[0]; a.LinkID != b.LinkID {
		t.Errorf("tcx link replaced (%d → %d): a re-apply must update it in place", a.LinkID, b.LinkID)
	}
}

// Changing only apps is a map update: no qdisc or class is touched, and no
// counter is lost.
func TestApplyRulesOnlyKeepsQdiscAndCounters(t *testing.T) {
	lab, ns := engineLab(t)
	mustApply(t, mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{})
	ping(t, lab, 5)
	before := observe(t, ns, "eth0")
	appsBefore := appCounters(t, ns)
	moved := strings.Replace(engPolicy, "{proto: icmp}", "{proto: udp, dport: 53}", 1)
	mustApply(t, mustParse(t, moved, ns, "4mbit"), ApplyOptions{})
	after := observe(t, ns, "eth0")
	for _, id := range []uint32{0x10010, 0x10020, 0x10030} {
		a, _ := before.state.Class(id)
		b, _ := after.state.Class(id)
		if b.Stats.Packets < a.Stats.Packets {
			t.Errorf("class %s counters reset: %d → %d packets", plan.HandleString(id), a.Stats.Packets, b.Stats.Packets)
		}
	}
	appsAfter := appCounters(t, ns)
	for id, c := range appsBefore {
		if appsAfter[id].Packets < c.Packets {
			t.Errorf("app %d counter lost: %d → %d packets", id, c.Packets, appsAfter[id].Packets)
		}
	}
	// Pings now fall to the default class.
	ping(t, lab, 5)
	other0, _ := after.state.Class(0x10030)
	other1, _ := observe(t, ns, "eth0").state.Class(0x10030)
	if other1.Stats.Packets-other0.Stats.Packets < 5 {
		t.Errorf("pings after the rule change: default class got %d packets, want >= 5", other1.Stats.Packets-other0.Stats.Packets)
	}
}

func appCounters(t *testing.T, ns string) map[uint32]loader.Counter {
	t.Helper()
	_, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", loader.Egress))
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

// Bad input (an interface that is not there) is refused before anything is
// touched, with an error that says so.
func TestApplyMissingInterfaceTouchesNothing(t *testing.T) {
	_, ns := engineLab(t)
	before := observe(t, ns, "eth0")
	text := engPolicy + `  - name: eth9
    netns: %[1]s
    egress: {}
`
	err := Apply(mustParse(t, text, ns, "4mbit"), ApplyOptions{})
	var bad interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bad) || !bad.BadInput() || !strings.Contains(err.Error(), `"eth9" does not exist`) {
		t.Fatalf("want a bad-input error naming eth9, got %v", err)
	}
	after := observe(t, ns, "eth0")
	if after.state.Root.Kind != before.state.Root.Kind || len(after.hooks) != len(before.hooks) {
		t.Errorf("kernel changed: root %s → %s, hooks %d → %d", before.state.Root.Kind, after.state.Root.Kind, len(before.hooks), len(after.hooks))
	}
	if st, _ := LoadState(ns, "eth0"); st != nil {
		t.Errorf("state file written for a refused apply")
	}
}

func TestApplyMissingNetnsIsBadInput(t *testing.T) {
	labtest.Root(t)
	err := Apply(mustParse(t, engPolicy, labtest.UniqueName("nons-"), "4mbit"), ApplyOptions{})
	var bad interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bad) || !bad.BadInput() || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("want a bad-input error about the namespace, got %v", err)
	}
}

// A failure after the kernel was changed rolls every interface back: the
// one that failed and the ones applied before it, to the previous policy.
func TestApplyFailureRollsBack(t *testing.T) {
	_, ns := engineLab(t)
	two := engPolicy + `  - name: eth1
    netns: %[1]s
    egress: {rate: 5mbit}
`
	mustApply(t, mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{})
	want := observe(t, ns, "eth0")

	failpoint = func(label string) error {
		if strings.HasSuffix(label, "/eth1") {
			return errors.New("injected failure")
		}
		return nil
	}
	t.Cleanup(func() { failpoint = func(string) error { return nil } })
	err := Apply(mustParse(t, two, ns, "6mbit"), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("want the injected failure, got %v", err)
	}
	got := observe(t, ns, "eth0")
	if d := plan.Diff(planOf(t, want.state), got.state); len(d) != 0 {
		t.Errorf("eth0 not rolled back to the previous policy:\n%s", d)
	}
	web, _ := got.state.Class(0x10010)
	if web.RateBytes != 4e6/8 {
		t.Errorf("eth0 web rate %d bytes/s after rollback, want %d", web.RateBytes, int(4e6/8))
	}
	eth1 := observe(t, ns, "eth1")
	if !eth1.state.Root.IsDefault() || len(eth1.ours()) != 0 {
		t.Errorf("eth1 not restored: root %+v, our hooks %+v", eth1.state.Root, eth1.ours())
	}
	if st, _ := LoadState(ns, "eth1"); st != nil {
		t.Errorf("eth1 state left behind after rollback")
	}
}

// planOf turns a kernel state back into a plan-shaped expectation by
// diffing against itself: an empty diff means "same as want".
func planOf(t *testing.T, st *plan.KernelState) *plan.Plan {
	t.Helper()
	p := &plan.Plan{Kind: st.Root.Kind, Handle: st.Root.Handle, Default: st.Root.Default}
	for _, c := range st.Classes {
		p.Classes = append(p.Classes, plan.Class{ClassID: c.ClassID, Parent: c.Parent, RateBytes: c.RateBytes,
			CeilBytes: c.CeilBytes, Burst: c.Burst, CBurst: c.CBurst, Quantum: c.Quantum, Prio: c.Prio, Leaf: c.Leaf()})
	}
	return p
}

// Delete puts back exactly what the interface had: here a TBF root that
// someone configured with tc before shaper came.
func TestDeleteRestoresWhatWasThere(t *testing.T) {
	lab, ns := engineLab(t)
	if out, err := lab.Exec(t.Context(), "client", "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "5:", "tbf",
		"rate", "3mbit", "burst", "4000", "latency", "40ms"); err != nil {
		t.Fatalf("tc: %v\n%s", err, out)
	}
	before := observe(t, ns, "eth0")
	mustApply(t, mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{})
	if got := observe(t, ns, "eth0").state.Root; got.Kind != "htb" {
		t.Fatalf("root after apply: %+v", got)
	}
	if err := Delete(DeleteOptions{Netns: ns, Ifaces: []string{"eth0"}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	after := observe(t, ns, "eth0")
	b, a := before.state.Root, after.state.Root
	if a.Kind != "tbf" || a.Handle != b.Handle || a.RateBytes != b.RateBytes || a.Limit != b.Limit || a.BufferTicks != b.BufferTicks {
		t.Errorf("root after delete %+v, want as before %+v", a, b)
	}
	if len(after.ours()) != 0 {
		t.Errorf("our programs still attached: %+v", after.ours())
	}
	if _, err := os.Stat(loader.PinDir(ns, "eth0", loader.Egress)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pins left behind: %v", err)
	}
}

// --dry-run reads the kernel and prints the plan and tc commands; it
// changes nothing.
func TestDryRunTouchesNothing(t *testing.T) {
	_, ns := engineLab(t)
	var out strings.Builder
	err := Apply(mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{DryRun: true, Out: &out})
	if err != nil {
		t.Fatalf("dry-run: %v", err)
	}
	for _, want := range []string{"tc qdisc add dev eth0 root handle 1: htb default 30", "add class 1:10", "egress classifier:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out.String())
		}
	}
	o := observe(t, ns, "eth0")
	if !o.state.Root.IsDefault() || len(o.hooks) != 0 {
		t.Errorf("dry-run changed the kernel: root %+v hooks %+v", o.state.Root, o.hooks)
	}
}

// Monitor-only: no qdisc, but the classifier counts per app; legacy tc
// attach works the same.
func TestMonitorOnlyWithTCAttach(t *testing.T) {
	lab, ns := engineLab(t)
	text := `
version: 1
apps: [{name: ping, match: [{proto: icmp}]}]
interfaces: [{name: eth0, netns: %s, egress: {}, ingress: {}}]
`
	mustApply(t, mustParse(t, text, ns), ApplyOptions{Attach: "tc"})
	ping(t, lab, 7)
	o := observe(t, ns, "eth0")
	if !o.state.Root.IsDefault() {
		t.Errorf("monitor-only installed a root qdisc: %+v", o.state.Root)
	}
	kinds := map[string]int{}
	for _, h := range o.ours() {
		kinds[h.Dir.String()+"/"+h.Kind]++
	}
	if kinds["egress/tc"] != 1 || kinds["ingress/tc"] != 1 {
		t.Errorf("want one tc filter of ours per direction, have %v", kinds)
	}
	st, _ := LoadState(ns, "eth0")
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		_, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", dir))
		if err != nil {
			t.Fatal(err)
		}
		if got := apps[st.AppIDs["ping"]].Packets; got < 7 {
			t.Errorf("%s: app ping counted %d packets, want >= 7", dir, got)
		}
	}
	// tc sees our filters too.
	out, _ := exec.Command("ip", "netns", "exec", ns, "tc", "filter", "show", "dev", "eth0", "egress").CombinedOutput()
	if !strings.Contains(string(out), "shaper") {
		t.Errorf("tc filter show lacks our filter:\n%s", out)
	}
}

// Adding a class keeps every other class's id and counters: no root
// rebuild, no renumbering.
func TestApplyAddedClassKeepsOthers(t *testing.T) {
	lab, ns := engineLab(t)
	mustApply(t, mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{})
	ping(t, lab, 5)
	before := observe(t, ns, "eth0")
	withVideo := strings.Replace(engPolicy, "        - {name: icmp,", "        - {name: video, rate: 1mbit}\n        - {name: icmp,", 1)
	mustApply(t, mustParse(t, withVideo, ns, "4mbit"), ApplyOptions{})
	after := observe(t, ns, "eth0")
	icmp0, _ := before.state.Class(0x10020)
	icmp1, ok := after.state.Class(0x10020)
	if !ok || icmp1.Stats.Packets < icmp0.Stats.Packets || icmp0.Stats.Packets < 5 {
		t.Errorf("class icmp 1:20: %d packets before, %d after (present %v): want kept", icmp0.Stats.Packets, icmp1.Stats.Packets, ok)
	}
	if _, ok := after.state.Class(0x10040); !ok {
		t.Errorf("new class video not at 1:40: %+v", after.state.Classes)
	}
	if after.state.Root.Default != 0x10030 {
		t.Errorf("default class moved: %s", plan.HandleString(after.state.Root.Default))
	}
}
