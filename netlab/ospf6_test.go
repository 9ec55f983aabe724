package netlab

import (
	"net/netip"
	"strings"
	"testing"
)

func parseOrFail(t *testing.T, src string) *Topology {
	t.Helper()
	topo, err := Parse(t.Name()+".yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return topo
}

func TestOSPF6Config(t *testing.T) {
	topo := parseOrFail(t, `
name: o
addressing: auto
kinds: {router: {ospf: {area: 0, hello: 2, dead: 8}}}
nodes: {r1: {kind: router}, r2: {kind: router}, h: {}}
links: [[r1, r2], [r1, h]]
`)
	if !wantOSPF6(topo) {
		t.Fatal("a lab with automatic IPv6 addresses must run ospf6d")
	}
	if got := ospfDaemons(topo); strings.Join(got, ",") != "ospfd,ospf6d" {
		t.Errorf("daemons = %v", got)
	}
	conf := ospf6dConfig(topo, resolvedSegments(topo), topo.Node("r1"))
	for _, w := range []string{
		"interface eth0\n ipv6 ospf6 area 0\n ipv6 ospf6 hello-interval 2\n ipv6 ospf6 dead-interval 8\n ipv6 ospf6 network point-to-point\n ipv6 ospf6 retransmit-interval 1\n!\n",
		"interface eth1\n ipv6 ospf6 area 0\n ipv6 ospf6 hello-interval 2\n ipv6 ospf6 dead-interval 8\n ipv6 ospf6 passive\n ipv6 ospf6 retransmit-interval 1\n!\n",
		"router ospf6\n ospf6 router-id 198.18.0.1\n redistribute static\n",
	} {
		if !strings.Contains(conf, w) {
			t.Errorf("ospf6d.conf lacks %q:\n%s", w, conf)
		}
	}

	v4only := parseOrFail(t, `
name: o4
addressing: {ipv4: 198.18.0.0/16}
kinds: {router: {ospf: true}}
nodes: {r1: {kind: router}, r2: {kind: router}}
links: [[r1, r2]]
`)
	if wantOSPF6(v4only) || len(ospfDaemons(v4only)) != 1 {
		t.Errorf("an IPv4-only lab should run ospfd alone, runs %v", ospfDaemons(v4only))
	}
}

func routesOf(n *Node) string {
	var rs []string
	for _, r := range n.Routes {
		rs = append(rs, r.Dst.String()+" via "+r.Via.String())
	}
	return strings.Join(rs, "; ")
}

func TestDefault6BesideDefault4(t *testing.T) {
	topo := parseOrFail(t, `
name: d6
addressing: auto
nodes:
  r1: {kind: router}
  lan: {kind: switch}
  a: {routes: [{to: default, via: 198.18.0.1}]}
  b: {routes: [{to: 0.0.0.0/0, via: 198.18.0.1}, {to: "::/0", via: "fd00::1"}]}
  c: {routes: [{to: 0.0.0.0/0, via: 198.18.0.1}]}
links: [[r1, lan], [a, lan], [b, lan], [c, lan]]
`)
	gw6 := netip.MustParseAddr("fd00::1")
	want := map[string]string{
		"a": "0.0.0.0/0 via 198.18.0.1; ::/0 via " + gw6.String(),
		"b": "0.0.0.0/0 via 198.18.0.1; ::/0 via fd00::1", // its own, not a second one
		"c": "0.0.0.0/0 via 198.18.0.1; ::/0 via " + gw6.String(),
	}
	for node, w := range want {
		if got := routesOf(topo.Node(node)); got != w {
			t.Errorf("%s routes: %s; want %s", node, got, w)
		}
	}

	v4only := parseOrFail(t, `
name: d4
nodes: {r1: {kind: router}, a: {routes: [{to: default, via: 198.18.0.1}]}}
links:
  - endpoints: [{node: r1, addresses: [198.18.0.1/24]}, {node: a, addresses: [198.18.0.2/24, "fd00::2/64"]}]
`)
	if got := routesOf(v4only.Node("a")); got != "0.0.0.0/0 via 198.18.0.1" {
		t.Errorf("with no IPv6 address on the router, a gets only %s", got)
	}
}
