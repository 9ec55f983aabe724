package netlab_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// lab50 is a 50-node lab: 4 LANs of 10 hosts, each LAN a switch with a
// router, the routers on a core switch with one more host, static routes.
func lab50() string {
	var b strings.Builder
	b.WriteString("name: bench50\nkinds:\n  host: {routes: [{to: default, via: auto}]}\nnodes:\n  core: {kind: switch}\n  probe: {routes: [{to: 198.18.0.0/21, via: 198.18.100.1}]}\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "  r%d:\n    kind: router\n    routes:\n", i)
		for j := 1; j <= 4; j++ {
			if j != i {
				fmt.Fprintf(&b, "      - {to: 198.18.%d.0/24, via: 198.18.100.%d}\n", j, j)
			}
		}
		fmt.Fprintf(&b, "  sw%d: {kind: switch}\n", i)
		for h := 1; h <= 10; h++ {
			fmt.Fprintf(&b, "  h%d-%d: {}\n", i, h)
		}
	}
	b.WriteString("links:\n  - endpoints: [{node: probe, addresses: [198.18.100.200/24]}, core]\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "  - endpoints: [{node: r%d, addresses: [198.18.100.%d/24]}, core]\n", i, i)
		fmt.Fprintf(&b, "  - {endpoints: [r%d, sw%d], subnets: [198.18.%d.0/24]}\n", i, i, i)
		for h := 1; h <= 10; h++ {
			fmt.Fprintf(&b, "  - [h%d-%d, sw%d]\n", i, h, i)
		}
	}
	return b.String()
}

// TestBenchLab50 times bringing up and tearing down a 50-node lab (goal:
// under 10 s each). `make bench` runs it; plain `go test` skips it.
func TestBenchLab50(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench) to run it")
	}
	labtest.Root(t)
	topo, err := netlab.Parse("bench50.yaml", []byte(lab50()))
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Nodes) != 50 {
		t.Fatalf("bench lab has %d nodes, want 50", len(topo.Nodes))
	}
	name := labtest.UniqueName("lb-")
	t.Cleanup(func() { assertGone(t, name) })
	start := time.Now()
	lab, err := netlab.Up(context.Background(), topo, netlab.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	t.Cleanup(func() { _ = lab.Down() })

	// The lab works end to end: a host of LAN 1 reaches a host of LAN 4.
	ping(t, lab, "h1-1", lab.Addr("h4-10", "eth0").Addr())

	start = time.Now()
	if err := lab.Down(); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	fmt.Printf("%-28s %8s %8s\n", "lab", "up", "down")
	fmt.Printf("%-28s %7.2fs %7.2fs\n", "50 nodes, 53 links", up.Seconds(), down.Seconds())
	t.Logf("up %.2f s, down %.2f s (goal: under 10 s each)", up.Seconds(), down.Seconds())
	if up > 10*time.Second || down > 10*time.Second {
		t.Logf("slower than the 10 s goal on this machine")
	}
}
