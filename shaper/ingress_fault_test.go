package shaper_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// Faults of the download path (docs/downloads.md): whatever part is
// missing, downloads flow (unshaped), status says the path is incomplete,
// and the next apply repairs it or delete removes everything.

// dlRate downloads for 2 s and returns the rate the client received, in
// bit/s; a download that fails fails the test.
func dlRate(t *testing.T, lab *netlab.Lab, port int) float64 {
	t.Helper()
	iperfServer(t, lab, port)
	a := dlLinkStats(t, lab, "client").RxBytes
	t0 := time.Now()
	c := download(t, lab, "198.18.0.2", port, 2)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("download from port %d: %v\n%s", port, err, c.out)
	}
	return float64(dlLinkStats(t, lab, "client").RxBytes-a) * 8 / time.Since(t0).Seconds()
}

// assertUnshaped: the path is incomplete and downloads flow at link speed.
func assertUnshaped(t *testing.T, lab *netlab.Lab, port int) {
	t.Helper()
	if p := dlPath(t, lab); p.Complete {
		t.Errorf("status says the path is complete with a part of it gone")
	} else {
		t.Logf("status: missing %v", p.Missing)
	}
	dlExec(t, lab, "client", "ping", "-c2", "-i0.2", "-W2", "198.18.0.2")
	if r := dlRate(t, lab, port); r < 5e6 {
		t.Errorf("download at %.2f mbit/s with the path broken: want unshaped (fail open)", r/1e6)
	}
}

// reapplyShapes applies again and checks the path is whole and shapes.
func reapplyShapes(t *testing.T, lab *netlab.Lab, via string, port int) {
	t.Helper()
	pol, err := policy.Parse("again.yaml", []byte(fmt.Sprintf(dlTBFPolicy, lab.Netns("client"), via)))
	if err != nil {
		t.Fatal(err)
	}
	if err := shaper.Apply(pol, shaper.ApplyOptions{}); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if p := dlPath(t, lab); !p.Complete {
		t.Fatalf("path incomplete after apply: %v", p.Missing)
	}
	if r := dlRate(t, lab, port); r > 1.5e6 {
		t.Errorf("download at %.2f mbit/s after the repair: want ~1.024", r/1e6)
	}
}

// The shaping namespace (netns) or the IFB device (ifb) deleted by hand.
func TestIngressPathDeletedByHand(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			dlVia(t, via)
			lab := labtest.Lab(t, dlTopo)
			dlApply(t, lab, dlTBFPolicy, via, "")
			p := dlPath(t, lab)
			if via == policy.ViaNetns {
				if err := netns.Delete(p.Netns); err != nil {
					t.Fatal(err)
				}
				// The kernel removes the namespace's devices (and so
				// the veth's host end) when it gets round to it.
				waitFor(t, 10*time.Second, "veth host end gone", func() bool { return !dlHasLink(t, lab, p.Device) })
			} else {
				dlExec(t, lab, "client", "ip", "link", "del", p.Device)
			}
			assertUnshaped(t, lab, 5201)
			reapplyShapes(t, lab, via, 5202)
			if err := shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, lab, p)
		})
	}
}

func dlHasLink(t *testing.T, lab *netlab.Lab, name string) bool {
	found := false
	_ = labtest.In(lab.Netns("client"), func() error {
		_, err := netlink.LinkByName(name)
		found = err == nil
		return nil
	})
	return found
}

// An apply that died after it built the path and before it switched the
// classifier to it (the ingress hook holds no program of ours), or
// before it made the veth (the namespace alone): downloads flow, apply
// repairs, delete removes all.
func TestIngressApplyKilledHalfway(t *testing.T) {
	lab := labtest.Lab(t, dlTopo)
	dlApply(t, lab, dlTBFPolicy, policy.ViaNetns, "")
	p := dlPath(t, lab)
	err := labtest.In(lab.Netns("client"), func() error {
		return loader.DetachAll(lab.Netns("client"), "eth0", loader.Ingress)
	})
	if err != nil {
		t.Fatal(err)
	}
	assertUnshaped(t, lab, 5201)
	reapplyShapes(t, lab, policy.ViaNetns, 5202)

	dlExec(t, lab, "client", "ip", "link", "del", p.Device) // the namespace stays, empty
	assertUnshaped(t, lab, 5203)
	if err := shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, lab, p)
}

// The interface disappears and comes back (a new ifindex): downloads
// flow unshaped until the next apply, which shapes them again.
func TestIngressInterfaceComesBack(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			dlVia(t, via)
			lab := labtest.Lab(t, dlTopo)
			dlApply(t, lab, dlTBFPolicy, via, "")
			p := dlPath(t, lab)
			s := lab.Netns("server")
			dlExec(t, lab, "client", "ip", "link", "del", "eth0")
			dlExec(t, lab, "client", "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", s)
			dlExec(t, lab, "client", "ip", "addr", "add", "198.18.0.1/24", "dev", "eth0")
			dlExec(t, lab, "server", "ip", "addr", "add", "198.18.0.2/24", "dev", "eth0")
			dlExec(t, lab, "client", "ip", "link", "set", "eth0", "up")
			dlExec(t, lab, "server", "ip", "link", "set", "eth0", "up")
			assertUnshaped(t, lab, 5201)
			reapplyShapes(t, lab, via, 5202)
			if err := shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, lab, p)
		})
	}
}

// A layer-3 link (tun: no MAC header, which a redirect into an Ethernet
// device needs) is refused for ingress shaping as bad input, with nothing
// touched; monitor-only ingress stays allowed.
func TestIngressRefusedOnL3(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	tunPair(t, lab)
	text := fmt.Sprintf("version: 1\ninterfaces:\n  - name: tun0\n    netns: %s\n    ingress: {tbf: {rate: 1mbit, burst: 1540, latency: 50ms}}\n",
		lab.Netns("client"))
	pol, err := policy.Parse("tun.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}) })
	err = shaper.Apply(pol, shaper.ApplyOptions{})
	var bad interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bad) || !bad.BadInput() || !strings.Contains(err.Error(), "layer-3") {
		t.Fatalf("apply = %v, want a bad-input error naming the layer-3 link", err)
	}
	t.Logf("refused: %v", err)
	if st, _ := shaper.LoadState(lab.Netns("client"), "tun0"); st != nil {
		t.Errorf("state written for a refused apply")
	}
}
