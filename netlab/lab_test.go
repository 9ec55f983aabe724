package netlab_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
)

const pair = `
name: pair
nodes: {a: {}, b: {}}
links:
  - endpoints:
      - {node: a, iface: eth0, addresses: [198.18.0.1/24, "fd00::1/64"], mac: "02:00:00:00:00:01"}
      - {node: b, iface: eth0, addresses: [198.18.0.2/24, "fd00::2/64"]}
    rate: 10mbit
    mtu: 1400
`

func TestLabHelperAndRate(t *testing.T) {
	lab := labtest.Lab(t, pair)
	ctx := context.Background()
	ping(t, lab, "a", netip.MustParseAddr("fd00::2"))
	for _, node := range []string{"a", "b"} {
		out, err := lab.Exec(ctx, node, "tc", "qdisc", "show", "dev", "eth0")
		if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate 10Mbit") {
			t.Errorf("%s eth0 should have tbf rate 10Mbit: %v\n%s", node, err, out)
		}
	}
	out, err := lab.Exec(ctx, "a", "ip", "link", "show", "eth0")
	if err != nil || !strings.Contains(string(out), "mtu 1400") || !strings.Contains(string(out), "02:00:00:00:00:01") ||
		!strings.Contains(string(out), "alias shaper-lab "+lab.Name()+" a:eth0-b:eth0") {
		t.Errorf("a:eth0 lacks mtu, mac or alias: %v\n%s", err, out)
	}
	st, err := netlab.Status(lab.Name())
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != lab.Name() || len(st.Nodes) != 2 || st.Nodes[0].Netns != lab.Name()+"-a" ||
		strings.Join(st.Nodes[0].Addresses, ",") != "198.18.0.1/24,fd00::1/64" {
		t.Errorf("status: %+v", st)
	}
}

// A namespace that is not the lab's is never built over nor removed.
func TestUpRefusesForeignNetns(t *testing.T) {
	labtest.Root(t)
	name := labtest.UniqueName("lt-")
	foreign := name + "-b"
	if err := netns.Create(foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(foreign) })
	topo, err := netlab.Parse("pair.yaml", []byte(pair))
	if err != nil {
		t.Fatal(err)
	}
	_, err = netlab.Up(context.Background(), topo, netlab.WithName(name))
	if err == nil || !strings.Contains(err.Error(), foreign+" already exists") {
		t.Fatalf("want a refusal naming %s, got %v", foreign, err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", foreign)); err != nil {
		t.Errorf("the foreign namespace was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name+"-a")); err == nil {
		t.Errorf("a refused Up created %s-a", name)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s", limit, what)
		}
	}
}

// Down removes a lab with a process still running inside, from its name
// alone, and leaves another lab alone.
func TestDownByNameLeavesOthers(t *testing.T) {
	labtest.Root(t)
	other := labtest.Lab(t, pair)
	topo, err := netlab.Parse("pair.yaml", []byte(pair))
	if err != nil {
		t.Fatal(err)
	}
	name := labtest.UniqueName("lt-")
	lab, err := netlab.Up(context.Background(), topo, netlab.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Down() })
	sleeper := lab.Command(context.Background(), "b", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	// nsenter enters the namespace, then execs sleep: wait for the exec,
	// or down could run before the process is in the lab.
	waitFor(t, 10*time.Second, "sleep to run inside the lab", func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sleeper.Process.Pid))
		return strings.TrimSpace(string(comm)) == "sleep"
	})

	if err := netlab.DownByName(name); err != nil {
		t.Fatalf("down: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = sleeper.Process.Kill()
		t.Errorf("the process inside the lab survived down")
	}
	assertGone(t, name)
	ping(t, other, "a", netip.MustParseAddr("198.18.0.2"))

	var bad interface{ BadInput() bool }
	if err := netlab.DownByName(name); !errors.As(err, &bad) {
		t.Errorf("down of a lab that is not up should be bad input, got %v", err)
	}
}

// Up again repairs what is missing and changes nothing else; another
// topology under the same name is refused.
func TestUpIdempotent(t *testing.T) {
	lab := labtest.Lab(t, pair)
	ctx := context.Background()
	if out, err := lab.Exec(ctx, "a", "ip", "link", "del", "eth0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	topo, _ := netlab.Parse("pair.yaml", []byte(pair))
	if _, err := netlab.Up(ctx, topo, netlab.WithName(lab.Name())); err != nil {
		t.Fatalf("second up: %v", err)
	}
	ping(t, lab, "a", netip.MustParseAddr("198.18.0.2"))

	changed, _ := netlab.Parse("pair.yaml", []byte(strings.Replace(pair, "10mbit", "20mbit", 1)))
	var bad interface{ BadInput() bool }
	if _, err := netlab.Up(ctx, changed, netlab.WithName(lab.Name())); !errors.As(err, &bad) {
		t.Errorf("up with another topology should be refused as bad input, got %v", err)
	}
	ping(t, lab, "a", netip.MustParseAddr("198.18.0.2")) // and the lab is untouched
}
