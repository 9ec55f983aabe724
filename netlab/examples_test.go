package netlab_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"golang.org/x/sync/errgroup"
)

// reachWithin bounds how long every address pair of a lab may take to
// answer after Up returns. Up waits for full OSPF adjacencies; the routes
// follow within an SPF run (FRR's first one is delayed up to a few
// seconds). Measured here: see the log of TestExamples/ospf-ring.yaml.
const reachWithin = 30 * time.Second

func example(t *testing.T, name string) *netlab.Topology {
	t.Helper()
	topo, err := netlab.Load(filepath.Join("..", "examples", "labs", name))
	if err != nil {
		t.Fatalf("load example %s: %v", name, err)
	}
	return topo
}

// upExample brings a shipped example up under a unique name and checks on
// cleanup that nothing of it is left.
func upExample(t *testing.T, file string) *netlab.Lab {
	t.Helper()
	labtest.Root(t)
	name := labtest.UniqueName("lt-")
	t.Cleanup(func() { assertGone(t, name) }) // registered first: runs after Down
	start := time.Now()
	lab := labtest.LabFrom(t, example(t, file), netlab.WithName(name))
	t.Logf("%s up in %.2fs", file, time.Since(start).Seconds())
	return lab
}

func ping(t *testing.T, lab *netlab.Lab, from string, to netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Exec(ctx, from, "ping", "-c", "1", "-W", "2", to.String()); err != nil {
		t.Errorf("ping %s from %s: %v\n%s", to, from, err, out)
	}
}

// eventuallyPing polls ping until it answers: OSPF learns routes in its own time.
func eventuallyPing(t *testing.T, lab *netlab.Lab, from string, to netip.Addr, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := lab.Exec(ctx, from, "ping", "-c", "1", "-W", "1", to.String())
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s after %s: %v", from, to, within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// addrPair is one ping: from an address of one node to an address of
// another, of the same family.
type addrPair struct {
	from, to string // nodes
	src, dst netip.Addr
	lastErr  string
}

func (p *addrPair) String() string {
	return fmt.Sprintf("%s %s → %s %s", p.from, p.src, p.to, p.dst)
}

// addressPairs lists every ordered pair of addresses of the same family on
// two different nodes of the lab.
func addressPairs(lab *netlab.Lab) []*addrPair {
	type owned struct {
		node string
		addr netip.Addr
	}
	var all []owned
	for _, l := range lab.Topology().Links {
		for _, ep := range l.Endpoints {
			for _, a := range ep.Addrs {
				all = append(all, owned{ep.Node, a.Addr()})
			}
		}
	}
	var pairs []*addrPair
	for _, a := range all {
		for _, b := range all {
			if a.node != b.node && a.addr.Is4() == b.addr.Is4() {
				pairs = append(pairs, &addrPair{from: a.node, to: b.node, src: a.addr, dst: b.addr})
			}
		}
	}
	return pairs
}

// pingAll pings every address pair of the lab, from the source address,
// in rounds until all have answered once, or at least three rounds have
// run and within has passed: it then fails the test listing the pairs that
// never answered. It returns how long it took.
func pingAll(t *testing.T, lab *netlab.Lab, within time.Duration) time.Duration {
	t.Helper()
	pairs := addressPairs(lab)
	if len(pairs) == 0 {
		t.Fatalf("lab %s has no address pair to ping", lab.Name())
	}
	v4 := 0
	for _, p := range pairs {
		if p.src.Is4() {
			v4++
		}
	}
	start := time.Now()
	todo, rounds := pairs, 0
	for len(todo) > 0 {
		if rounds >= 3 && time.Since(start) > within {
			var lines []string
			for _, p := range todo {
				lines = append(lines, fmt.Sprintf("  %s: %s", p, p.lastErr))
			}
			t.Fatalf("%d of %d address pairs of %s still unreachable after %s (%d rounds):\n%s",
				len(todo), len(pairs), lab.Name(), time.Since(start).Round(time.Millisecond), rounds, strings.Join(lines, "\n"))
		}
		rounds++
		todo = pingRound(t, lab, todo)
		if rounds == 1 && len(todo) > 0 {
			t.Logf("%d of %d pairs did not answer the first round, e.g. %s", len(todo), len(pairs), todo[0])
		}
	}
	took := time.Since(start)
	t.Logf("%s: all %d address pairs answer (%d IPv4, %d IPv6) after %.2fs, %d rounds",
		lab.Name(), len(pairs), v4, len(pairs)-v4, took.Seconds(), rounds)
	return took
}

// pingRound pings each pair (one socket per source address, up to 2 s,
// asking again every 200 ms) and returns those that did not answer.
func pingRound(t *testing.T, lab *netlab.Lab, pairs []*addrPair) []*addrPair {
	t.Helper()
	bySrc := map[netip.Addr][]*addrPair{}
	for _, p := range pairs {
		bySrc[p.src] = append(bySrc[p.src], p)
	}
	var mu sync.Mutex
	var failed []*addrPair
	var g errgroup.Group
	g.SetLimit(8)
	for src, ps := range bySrc {
		g.Go(func() error {
			dsts := make([]netip.Addr, len(ps))
			for i, p := range ps {
				dsts[i] = p.dst
			}
			answered, err := pingFrom(lab.Netns(ps[0].from), src, dsts, 2*time.Second)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps {
				if !answered[p.dst] {
					p.lastErr = "no echo reply within 2s"
					failed = append(failed, p)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	slices.SortFunc(failed, func(a, b *addrPair) int { return strings.Compare(a.String(), b.String()) })
	return failed
}

// exampleChecks are what each shipped example shows beyond every address
// answering every other.
var exampleChecks = map[string]func(*testing.T, *netlab.Lab){
	"switch.yaml":    checkSwitch,
	"routed.yaml":    checkRouted,
	"shaping.yaml":   checkShaping,
	"ospf-ring.yaml": checkRingReroute,
}

// TestExamples brings up every shipped lab, pings every pair of its
// addresses (IPv4 and IPv6) and runs the example's own checks.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "labs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped example labs found (%v)", err)
	}
	for _, f := range files {
		file := filepath.Base(f)
		t.Run(file, func(t *testing.T) {
			lab := upExample(t, file)
			pingAll(t, lab, reachWithin)
			check, ok := exampleChecks[file]
			if !ok {
				t.Fatalf("example %s has no checks: add what it shows to exampleChecks", file)
			}
			check(t, lab)
		})
	}
}

func checkSwitch(t *testing.T, lab *netlab.Lab) {
	h1, h2 := lab.Addr("h1", "eth0"), lab.Addr("h2", "eth0")
	if h1 != netip.MustParsePrefix("198.18.0.1/24") || h2 != netip.MustParsePrefix("198.18.0.2/24") {
		t.Fatalf("automatic addresses: h1 %s, h2 %s; want 198.18.0.1/24 and .2", h1, h2)
	}
}

func checkRouted(t *testing.T, lab *netlab.Lab) {
	h3 := lab.Addr("h3", "eth0").Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lab.Exec(ctx, "h1", "traceroute", "-n", "-q", "1", "-w", "2", h3.String())
	if err != nil {
		t.Fatalf("traceroute: %v", err)
	}
	r1 := lab.Addr("r1", "eth0").Addr().String() // r1 on lan1, h1's gateway
	hops := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(hops) != 3 || !strings.Contains(hops[1], " "+r1+" ") || !strings.Contains(hops[2], " "+h3.String()+" ") {
		t.Errorf("traceroute h1 → h3 should go through r1 (%s) then reach h3:\n%s", r1, out)
	}
}

func checkShaping(t *testing.T, lab *netlab.Lab) {
	if got := lab.Netns("client"); got != lab.Name()+"-client" {
		t.Errorf("netns of client = %s", got)
	}
	// The shipped file names the lab shaper-demo: the demo relies on it.
	if topo := example(t, "shaping.yaml"); topo.Name != "shaper-demo" {
		t.Errorf("shaping.yaml lab name = %s, want shaper-demo", topo.Name)
	}
}

// checkRingReroute cuts r1–r2: r1 must learn h2's LANs (IPv4 and IPv6)
// through r3, and the hosts reach each other again.
func checkRingReroute(t *testing.T, lab *netlab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Exec(ctx, "r1", "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("cut r1:eth0: %v\n%s", err, out)
	}
	h2, h2v6 := lab.Addr("h2", "eth0"), lab.Addr6("h2", "eth0")
	viaR3 := "via " + lab.Addr("r3", "eth1").Addr().String() + " "
	start := time.Now()
	waitRoute(t, lab, "-4", h2.Masked(), func(out string) bool { return strings.Contains(out, viaR3) })
	// OSPFv3 next hops are link-local: the route must leave by eth1 (to r3).
	waitRoute(t, lab, "-6", h2v6.Masked(), func(out string) bool { return strings.Contains(out, "dev eth1 ") })
	t.Logf("re-routed around the cut in %.2fs", time.Since(start).Seconds())
	for _, to := range []netip.Addr{h2.Addr(), h2v6.Addr()} {
		eventuallyPing(t, lab, "h1", to, reachWithin)
	}
	for _, to := range []netip.Addr{lab.Addr("h1", "eth0").Addr(), lab.Addr6("h1", "eth0").Addr()} {
		eventuallyPing(t, lab, "h2", to, reachWithin)
	}

	st, err := netlab.Status(lab.Name())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, n := range st.Nodes {
		if n.Name == "r3" && (len(n.OSPFNeighbours) != 2 || len(n.OSPF6Neighbours) != 2) {
			t.Errorf("r3 should still have 2 OSPF and 2 OSPFv3 neighbours, status shows %+v and %+v", n.OSPFNeighbours, n.OSPF6Neighbours)
		}
	}
}

// waitRoute polls r1's route to dst until ok accepts it.
func waitRoute(t *testing.T, lab *netlab.Lab, family string, dst netip.Prefix, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(reachWithin)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := lab.Exec(ctx, "r1", "ip", family, "route", "show", dst.String())
		cancel()
		if ok(string(out)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cutting r1–r2, r1 routes %s as %q; want it via r3", dst, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
