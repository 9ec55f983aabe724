package shaper

import (
	"strings"
	"testing"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// Path names say they are ours and which interface they serve, fit the
// kernel's 15-character device names, and differ per namespace.
func TestPathNames(t *testing.T) {
	root := pathNames("", "eth0", policy.ViaNetns)
	if root.Netns != "shaper-eth0" {
		t.Errorf("root namespace: %q, want shaper-eth0", root.Netns)
	}
	other := pathNames("lab1", "eth0", policy.ViaNetns)
	if other.Netns == root.Netns || other.Host == root.Host || !strings.HasPrefix(other.Netns, "shaper-eth0-") {
		t.Errorf("names for eth0 in lab1 %+v collide with or do not name root's %+v", other, root)
	}
	long := pathNames("some-namespace", "a-very-long-nam", policy.ViaNetns)
	ifb := pathNames("some-namespace", "a-very-long-nam", policy.ViaIFB)
	for _, dev := range []string{long.Host, long.Inner, ifb.Host} {
		if len(dev) > 15 || !strings.HasPrefix(dev, "shp") {
			t.Errorf("device name %q: want shp… of at most 15 characters", dev)
		}
	}
}

// --dry-run shows the ingress plan, the path and the commands.
func TestDescribeIngress(t *testing.T) {
	in := &policy.Direction{Via: policy.ViaNetns, TBF: &policy.TBF{Rate: 1_024_000, Burst: 1540, Latency: 50e6}}
	p, err := plan.Direction(in)
	if err != nil {
		t.Fatal(err)
	}
	j := &job{iface: policy.Interface{Name: "eth0", Ingress: in}, ingress: p}
	var b strings.Builder
	j.describeIngress(&b)
	for _, want := range []string{"ingress plan (via netns)", "ip netns add shaper-eth0", "type veth peer name",
		"ip netns exec shaper-eth0 tc qdisc add dev", "tbf", "shaper_classify redirects IP packets"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dry-run lacks %q:\n%s", want, b.String())
		}
	}
}
