package netlab_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
)

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
	return labtest.LabFrom(t, example(t, file), netlab.WithName(name))
}

func ping(t *testing.T, lab *netlab.Lab, from string, to netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Exec(ctx, from, "ping", "-c", "1", "-W", "2", to.String()); err != nil {
		t.Errorf("ping %s from %s: %v\n%s", to, from, err, out)
	}
}

// eventually polls ping until it answers: OSPF learns routes in its own time.
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

func TestExampleSwitch(t *testing.T) {
	lab := upExample(t, "switch.yaml")
	h1, h2 := lab.Addr("h1", "eth0"), lab.Addr("h2", "eth0")
	if h1 != netip.MustParsePrefix("198.18.0.1/24") || h2 != netip.MustParsePrefix("198.18.0.2/24") {
		t.Fatalf("automatic addresses: h1 %s, h2 %s; want 198.18.0.1/24 and .2", h1, h2)
	}
	ping(t, lab, "h1", h2.Addr())
	ping(t, lab, "h2", h1.Addr())
	ping(t, lab, "h1", lab.Addr6("h2", "eth0").Addr())
	ping(t, lab, "h2", lab.Addr6("h1", "eth0").Addr())
}

func TestExampleRouted(t *testing.T) {
	lab := upExample(t, "routed.yaml")
	h1, h3 := lab.Addr("h1", "eth0").Addr(), lab.Addr("h3", "eth0").Addr()
	ping(t, lab, "h1", h3)
	ping(t, lab, "h3", h1)
	ping(t, lab, "h1", lab.Addr6("h3", "eth0").Addr())
	ping(t, lab, "h2", h3)

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

func TestExampleShaping(t *testing.T) {
	lab := upExample(t, "shaping.yaml")
	if got := lab.Netns("client"); got != lab.Name()+"-client" {
		t.Errorf("netns of client = %s", got)
	}
	ping(t, lab, "client", netip.MustParseAddr("198.18.0.2"))
	ping(t, lab, "server", netip.MustParseAddr("fd00::1"))
	// The shipped file names the lab shaper-demo: the demo relies on it.
	if topo := example(t, "shaping.yaml"); topo.Name != "shaper-demo" {
		t.Errorf("shaping.yaml lab name = %s, want shaper-demo", topo.Name)
	}
}

func TestExampleOSPFRing(t *testing.T) {
	lab := upExample(t, "ospf-ring.yaml")
	hosts := []string{"h1", "h2", "h3"}
	for _, from := range hosts {
		for _, to := range hosts {
			if from != to {
				eventuallyPing(t, lab, from, lab.Addr(to, "eth0").Addr(), 30*time.Second)
			}
		}
	}
	// Cut r1–r2: r1 must learn h2's LAN through r3.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.Exec(ctx, "r1", "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("cut r1:eth0: %v\n%s", err, out)
	}
	h2 := lab.Addr("h2", "eth0")
	viaR3 := lab.Addr("r3", "eth1").Addr().String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := lab.Exec(ctx, "r1", "ip", "-4", "route", "show", h2.Masked().String())
		if strings.Contains(string(out), "via "+viaR3+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cutting r1–r2, r1 routes %s as %q; want via r3 (%s)", h2.Masked(), out, viaR3)
		}
		time.Sleep(500 * time.Millisecond)
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
	}
	eventuallyPing(t, lab, "h1", h2.Addr(), 30*time.Second)
	eventuallyPing(t, lab, "h2", lab.Addr("h1", "eth0").Addr(), 30*time.Second)

	st, err := netlab.Status(lab.Name())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, n := range st.Nodes {
		if n.Name == "r3" && len(n.OSPFNeighbours) != 2 {
			t.Errorf("r3 should still have 2 OSPF neighbours, status shows %+v", n.OSPFNeighbours)
		}
	}
}
