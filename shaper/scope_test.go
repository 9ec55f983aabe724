package shaper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// Scope and ownership: every command acts in the namespace it is given
// (the root one when none), and each namespace's state and pins are its own.

const scopePolicy = `
version: 1
apps: [{name: ping, match: [{proto: icmp}]}]
interfaces:
%s`

// scopeIface is one policy interface entry.
func scopeIface(netns, name string) string {
	return fmt.Sprintf("  - {name: %s, netns: %q, egress: {rate: 10mbit, default: other, classes: "+
		"[{name: icmp, rate: 2mbit, apps: [ping]}, {name: other, rate: 2mbit}]}}\n", name, netns)
}

// ipLink runs `ip` with args, in netns when set.
func ipLink(t *testing.T, netns string, args ...string) {
	t.Helper()
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// vethNetns makes a namespace with a veth pair eth0/eth1 inside it, so the
// namespace's eth0 does not depend on any other namespace.
func vethNetns(t *testing.T, prefix string) string {
	t.Helper()
	ns := labtest.Netns(t, prefix)
	ipLink(t, ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	ipLink(t, ns, "link", "set", "eth0", "up")
	ipLink(t, ns, "link", "set", "eth1", "up")
	return ns
}

// observeIn is observe for any namespace, the root one ("") included.
func observeIn(t *testing.T, netns, dev string) observed {
	t.Helper()
	if netns != "" {
		return observe(t, netns, dev)
	}
	link, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatalf("observe %s: %v", dev, err)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var o observed
	if o.state, err = ReadState(h, link); err != nil {
		t.Fatal(err)
	}
	if o.hooks, err = loader.List(link.Attrs().Index, ""); err != nil {
		t.Fatal(err)
	}
	return o
}

func wantShaped(t *testing.T, netns, dev string, shaped bool) {
	t.Helper()
	o := observeIn(t, netns, dev)
	if got := o.state.Root.Kind == "htb" && len(o.ours()) == 1; got != shaped {
		t.Errorf("%s in netns %q: shaped %v (root %s, our programs %d), want %v",
			dev, netns, got, o.state.Root.Kind, len(o.ours()), shaped)
	}
}

func isBadInput(err error) bool {
	var b interface{ BadInput() bool }
	return errors.As(err, &b) && b.BadInput()
}

func deleteOnCleanup(t *testing.T, o DeleteOptions) {
	t.Cleanup(func() {
		if err := Delete(o); err != nil && !isBadInput(err) {
			t.Errorf("cleanup delete %+v: %v", o, err)
		}
	})
}

// `delete eth0` acts in the root namespace only; `--netns A` in A only.
func TestScopeDeleteActsInOneNetns(t *testing.T) {
	a, b := vethNetns(t, "sca-"), vethNetns(t, "scb-")
	deleteOnCleanup(t, DeleteOptions{Netns: a})
	deleteOnCleanup(t, DeleteOptions{Netns: b})
	mustApply(t, mustParse(t, scopePolicy, scopeIface(a, "eth0")+scopeIface(b, "eth0")), ApplyOptions{})
	wantShaped(t, a, "eth0", true)
	wantShaped(t, b, "eth0", true)

	// No --netns: the root namespace, where shaper manages no eth0 of
	// these. Bad input, and the error points at the namespaces that have one.
	var out strings.Builder
	err := Delete(DeleteOptions{Ifaces: []string{"eth0"}, Out: &out})
	if !isBadInput(err) || !strings.Contains(err.Error(), "root network namespace") ||
		!strings.Contains(err.Error(), "--netns "+a) || !strings.Contains(err.Error(), "--netns "+b) {
		t.Errorf("delete eth0 without --netns: got %v, want bad input naming the root namespace and --netns %s, %s", err, a, b)
	}
	wantShaped(t, a, "eth0", true)
	wantShaped(t, b, "eth0", true)

	if err := Delete(DeleteOptions{Netns: a, Ifaces: []string{"eth0"}}); err != nil {
		t.Fatalf("delete eth0 --netns %s: %v", a, err)
	}
	wantShaped(t, a, "eth0", false)
	wantShaped(t, b, "eth0", true)
	if st, _ := LoadState(b, "eth0"); st == nil {
		t.Errorf("state of %s/eth0 gone after deleting in %s", b, a)
	}
	if _, err := os.Stat(loader.PinDir(b, "eth0", loader.Egress)); err != nil {
		t.Errorf("pins of %s/eth0 gone after deleting in %s: %v", b, a, err)
	}

	// A namespace that does not exist (and never had state) is bad input.
	err = Delete(DeleteOptions{Netns: labtest.UniqueName("nons-")})
	if !isBadInput(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("delete --netns <missing>: got %v, want bad input saying it does not exist", err)
	}
	err = Delete(DeleteOptions{Netns: b, AllNetns: true})
	if !isBadInput(err) {
		t.Errorf("delete --netns with --all-namespaces: got %v, want bad input", err)
	}
}

// A namespace that vanished (`ip netns del`) shows as drift; the others
// are shown in full; delete --netns of it removes its state and pins.
func TestScopeStatusWithVanishedNetns(t *testing.T) {
	a, b := vethNetns(t, "sva-"), vethNetns(t, "svb-")
	deleteOnCleanup(t, DeleteOptions{Netns: a})
	deleteOnCleanup(t, DeleteOptions{Netns: b})
	mustApply(t, mustParse(t, scopePolicy, scopeIface(a, "eth0")+scopeIface(b, "eth0")), ApplyOptions{})
	ipLink(t, "", "netns", "del", a)

	rep, err := Status(StatusOptions{AllNetns: true})
	if err != nil {
		t.Fatalf("status with a vanished namespace: %v", err)
	}
	byNetns := map[string]IfaceStatus{}
	for _, s := range rep.Interfaces {
		byNetns[s.Netns] = s
	}
	sb, ok := byNetns[b]
	if !ok || !sb.Present || len(sb.Drift) != 0 || len(sb.Egress.Classes) != 3 {
		t.Errorf("%s/eth0: present %v, drift %q, %d classes: want present, in sync, 3 classes", b, sb.Present, sb.Drift, len(sb.Egress.Classes))
	}
	sa, ok := byNetns[a]
	if !ok || sa.Present || !slices.ContainsFunc(sa.Drift, func(d string) bool { return strings.Contains(d, "is gone") }) {
		t.Errorf("%s/eth0 (vanished): found %v, present %v, drift %q: want drift saying the namespace is gone", a, ok, sa.Present, sa.Drift)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Interfaces []struct {
			Netns string   `json:"netns"`
			Drift []string `json:"drift"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	for _, s := range decoded.Interfaces {
		if s.Netns == a && len(s.Drift) == 0 {
			t.Errorf("-o json: vanished %s has no drift:\n%s", a, js.String())
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`eth0 in netns ` + a + `: egress htb, attached with (tcx|tc), DRIFT`).MatchString(table.String()) {
		t.Errorf("table does not flag %s as drift:\n%s", a, table.String())
	}

	// The vanished namespace can still be named: status and delete.
	if rep, err := Status(StatusOptions{Netns: a}); err != nil || len(rep.Interfaces) != 1 {
		t.Errorf("status --netns %s (vanished): %v", a, err)
	}
	var out strings.Builder
	if err := Delete(DeleteOptions{Netns: a, Out: &out}); err != nil {
		t.Fatalf("delete --netns %s (vanished): %v", a, err)
	}
	if !strings.Contains(out.String(), "namespace is gone") {
		t.Errorf("delete output does not say the namespace is gone:\n%s", out.String())
	}
	if st, _ := LoadState(a, "eth0"); st != nil {
		t.Errorf("state of vanished %s left behind", a)
	}
	if _, err := os.Stat(loader.IfaceDir(a, "eth0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pins of vanished %s left behind: %v", a, err)
	}
	if _, err := Status(StatusOptions{Netns: a}); !isBadInput(err) {
		t.Errorf("status --netns %s after delete: got %v, want bad input (no such namespace)", a, err)
	}
	wantShaped(t, b, "eth0", true)
}

// rootVeth makes a veth whose end `name` is in the root namespace and whose
// peer (also `name`) is in peerNetns: an interface of the test's own in
// the root namespace, removed when the test ends. It has no address.
func rootVeth(t *testing.T, name, peerNetns string) {
	t.Helper()
	ipLink(t, "", "link", "add", name, "type", "veth", "peer", "name", name, "netns", peerNetns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	ipLink(t, "", "link", "set", name, "up")
	ipLink(t, peerNetns, "link", "set", name, "up")
}

// A namespace literally named "host" and the root namespace have their
// own state files and pins (they shared them before namespace keys).
func TestScopeHostNetnsIsNotRoot(t *testing.T) {
	labtest.Root(t)
	if netns.Exists("host") {
		if os.Getenv("CI") != "" {
			t.Fatal(`a network namespace named "host" exists already; this test needs to make its own`)
		}
		t.Skip(`a network namespace named "host" exists already; this test needs to make its own`)
	}
	ipLink(t, "", "netns", "add", "host")
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", "host").Run() })
	dev := labtest.UniqueName("hv")
	rootVeth(t, dev, "host")
	deleteOnCleanup(t, DeleteOptions{Netns: "host"})
	deleteOnCleanup(t, DeleteOptions{Ifaces: []string{dev}})

	mustApply(t, mustParse(t, scopePolicy, scopeIface("", dev)+scopeIface("host", dev)), ApplyOptions{})
	if statePath("", dev) == statePath("host", dev) || loader.IfaceDir("", dev) == loader.IfaceDir("host", dev) {
		t.Fatalf("root and netns host share %s / %s", statePath("", dev), loader.IfaceDir("", dev))
	}
	for _, ns := range []string{"", "host"} {
		if st, _ := LoadState(ns, dev); st == nil || st.Netns != ns {
			t.Errorf("state of %q: %+v", ns, st)
		}
		if _, err := os.Stat(loader.PinDir(ns, dev, loader.Egress)); err != nil {
			t.Errorf("pins of %q: %v", ns, err)
		}
		wantShaped(t, ns, dev, true)
	}
	if err := Delete(DeleteOptions{Netns: "host", Ifaces: []string{dev}}); err != nil {
		t.Fatalf("delete --netns host: %v", err)
	}
	wantShaped(t, "host", dev, false)
	wantShaped(t, "", dev, true)
	rep, err := Status(StatusOptions{Ifaces: []string{dev}})
	if err != nil || len(rep.Interfaces) != 1 || len(rep.Interfaces[0].Drift) != 0 {
		t.Fatalf("root status after deleting in netns host: %v %+v", err, rep)
	}
	if err := Delete(DeleteOptions{Ifaces: []string{dev}}); err != nil {
		t.Fatalf("delete in the root namespace: %v", err)
	}
	wantShaped(t, "", dev, false)
}

// toLegacyLayout moves an interface's state and pins to where a shaper
// before namespace keys kept them: what a user upgrading has on disk.
func toLegacyLayout(t *testing.T, dev string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(legacyStatePath("", dev)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(statePath("", dev), legacyStatePath("", dev)); err != nil {
		t.Fatal(err)
	}
	legacyPins := filepath.Join(loader.BPFFSRoot, "shaper", "host", dev)
	if err := os.MkdirAll(filepath.Dir(legacyPins), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(loader.IfaceDir("", dev), legacyPins); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(legacyPins)
		_ = os.Remove(legacyStatePath("", dev))
	})
}

// A user who upgrades shaper with a policy applied (old layout: root under
// "host") is not stranded: status, re-apply and delete find and move it.
func TestScopeUpgradeFromHostLayout(t *testing.T) {
	peer := labtest.Netns(t, "upg-")
	dev := labtest.UniqueName("up")
	rootVeth(t, dev, peer)
	deleteOnCleanup(t, DeleteOptions{Ifaces: []string{dev}})
	apply := func(rate string) {
		entry := strings.Replace(scopeIface("", dev), "name: icmp, rate: 2mbit", "name: icmp, rate: "+rate, 1)
		mustApply(t, mustParse(t, scopePolicy, entry), ApplyOptions{})
	}
	apply("2mbit")
	link0 := observeIn(t, "", dev).ours()[0].LinkID

	toLegacyLayout(t, dev)
	if st, _ := LoadState("", dev); st == nil {
		t.Fatalf("state in the old layout not found")
	}
	rep, err := Status(StatusOptions{Ifaces: []string{dev}})
	if err != nil || len(rep.Interfaces) != 1 || len(rep.Interfaces[0].Drift) != 0 {
		t.Fatalf("status of an old-layout interface: %v %+v", err, rep)
	}
	if _, err := os.Stat(statePath("", dev)); err != nil {
		t.Errorf("status did not move the state to the new layout: %v", err)
	}

	toLegacyLayout(t, dev)
	apply("3mbit")
	o := observeIn(t, "", dev)
	if icmp, _ := o.state.Class(0x10010); icmp.RateBytes != 3e6/8 || len(o.ours()) != 1 || o.ours()[0].LinkID != link0 {
		t.Errorf("re-apply over the old layout: icmp rate %d, our programs %+v (link %d before)", icmp.RateBytes, o.ours(), link0)
	}
	if _, err := os.Stat(loader.PinDir("", dev, loader.Egress)); err != nil {
		t.Errorf("pins not in the new layout after re-apply: %v", err)
	}

	toLegacyLayout(t, dev)
	if err := Delete(DeleteOptions{Ifaces: []string{dev}}); err != nil {
		t.Fatalf("delete of an old-layout interface: %v", err)
	}
	wantShaped(t, "", dev, false)
	for _, p := range []string{statePath("", dev), legacyStatePath("", dev), loader.IfaceDir("", dev),
		filepath.Join(loader.BPFFSRoot, "shaper", "host", dev)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
