package netlab

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Topology {
	t.Helper()
	topo, err := Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return topo
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each is a "line:col: message fragment" that must appear
	}{
		{"unknown node", `
name: x
nodes: {a: {}, b: {}}
links:
  - [a, c]
`, []string{`lab.yaml:5:9: unknown node "c" in link`}},
		{"duplicate address", `
name: x
nodes: {a: {}, b: {}, c: {}, d: {}}
links:
  - endpoints: [{node: a, addresses: [198.18.1.1/24]}, {node: b, addresses: [198.18.1.2/24]}]
  - endpoints: [{node: c, addresses: [198.18.1.1/24]}, {node: d, addresses: [198.18.2.2/24]}]
`, []string{"lab.yaml:6:17: duplicate address 198.18.1.1 on c:eth0, already used at lab.yaml:5:17", "lab.yaml:6:56: address 198.18.2.2/24 of d:eth0 is not in the link's subnet 198.18.1.0/24", "lab.yaml:6:17: subnet 198.18.1.0/24 overlaps 198.18.1.0/24"}},
		{"address outside subnet", `
name: x
nodes: {a: {}, b: {}}
links:
  - endpoints: [{node: a, addresses: [198.18.1.1/24]}, {node: b, addresses: [198.18.9.2/24]}]
`, []string{"lab.yaml:5:56: address 198.18.9.2/24 of b:eth0 is not in the link's subnet 198.18.1.0/24 (set at lab.yaml:5:17)"}},
		{"switch with one port", `
name: x
nodes: {a: {}, sw: {kind: switch}}
links:
  - [a, sw]
`, []string{"lab.yaml:3:16: switch sw has 1 port(s), a LAN needs at least 2"}},
		{"route loop", `
name: x
addressing: auto
nodes:
  r1: {kind: router, routes: [{to: 198.18.100.0/24, via: 198.18.0.2}]}
  r2: {kind: router, routes: [{to: 198.18.100.0/24, via: 198.18.0.1}]}
links:
  - [r1, r2]
`, []string{"routes loop: packets to 198.18.100.0 go r1 → r2 → r1"}},
		{"unknown field and kind", `
name: x
nodes:
  a: {kind: server, colour: red}
  b: {}
links: [[a, b]]
`, []string{`lab.yaml:4:13: unknown kind "server"`, `lab.yaml:4:21: unknown key "colour" in node a; known keys are "kind", "mtu", "ospf" or "routes"`}},
		{"bad names", `
name: "bad name"
nodes:
  a: {}
  b: {}
links:
  - ["a:averyveryverylongname", b]
`, []string{`lab.yaml:2:7: lab name "bad name"`, `interface name "averyveryverylongname"`}},
		{"gateway not on subnet", `
name: x
addressing: auto
nodes:
  a: {routes: [{to: default, via: 198.18.50.1}]}
  b: {}
links: [[a, b]]
`, []string{"lab.yaml:5:16: gateway 198.18.50.1 of a is not on any of its subnets"}},
		{"ospf on host, bad rate, pool outside", `
name: x
addressing: {ipv4: 203.0.113.0/24}
nodes:
  a: {ospf: true}
  b: {}
links:
  - {endpoints: [a, b], rate: 10 apples}
`, []string{"lab.yaml:3:20: ipv4 pool 203.0.113.0/24 must lie inside 198.18.0.0/15", "lab.yaml:5:13: ospf runs on routers only", `lab.yaml:8:31: unknown unit "apples" in rate "10 apples"; write a number with a unit: kbit, mbit, gbit (bits/s) or kbps, mbps (bytes/s), like 100mbit`}},
		{"via auto with two routers", `
name: x
addressing: auto
nodes:
  r1: {kind: router}
  r2: {kind: router}
  h: {routes: [{to: default, via: auto}]}
  sw: {kind: switch}
links: [[r1, sw], [r2, sw], [h, sw]]
`, []string{"lab.yaml:7:35: via auto needs exactly one router next to h, found r1, r2"}},
		{"yaml syntax", "name: x\nnodes: [\n", []string{"lab.yaml:2:8: invalid YAML: the list opened here with '[' is never closed; add ']' where the list ends\n  2 | nodes: [\n    |        ^"}},
		{"typo, repeated keys, wrong type", `
name: x
nodes:
  a: {mut: 1500}
  b: {kind: host, kind: router}
  a: {}
links:
  - {endpoints: [a, b], mtu: big, delay: 20ms, loss: 1%}
  - {endpoints: [a, b], delay: 3 weeks, loss: 200%}
  - [a, "bb"]
`, []string{`lab.yaml:4:7: unknown key "mut" in node a; did you mean "mtu"?`,
			`lab.yaml:5:19: "kind" is given twice in node b; the first is at line 5, column 7`,
			`lab.yaml:6:3: "a" is given twice in nodes; the first is at line 4, column 3`,
			`lab.yaml:8:30: mtu must be a whole number, not the string "big"`,
			`lab.yaml:9:32: unknown unit "weeks" in time "3 weeks"`, `lab.yaml:9:47: percentage "200%" is out of range`, `lab.yaml:10:9: unknown node "bb" in link: did you mean "b"?`}},
		{"switch loop", `
name: x
nodes: {a: {}, b: {}, s1: {kind: switch}, s2: {kind: switch}}
links: [[a, s1], [b, s2], [s1, s2], [s2, s1]]
`, []string{"lab.yaml:4:37: link s2-s1 closes a loop of switches"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(tt.src))
			var te TopologyError
			if !errors.As(err, &te) || !te.BadInput() {
				t.Fatalf("want a *TopologyError (bad input), got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestAutoAddressing(t *testing.T) {
	topo := mustParse(t, `
name: auto
addressing: {ipv4: 198.18.4.0/22, ipv6: "fd00:9::/48"}
kinds:
  host: {routes: [{to: default, via: auto}]}
nodes:
  h1: {}
  h2: {}
  r1: {kind: router}
  sw: {kind: switch}
  h3: {}
links:
  - [h1, sw]
  - [h2, sw]
  - [r1, sw]
  - endpoints: [{node: r1, addresses: [198.18.4.77/24]}, h3]
`)
	want := map[string][]string{
		"r1:eth0": {"198.18.5.1/24", "fd00:9::1/64"},
		"h1:eth0": {"198.18.5.2/24", "fd00:9::2/64"},
		"h2:eth0": {"198.18.5.3/24", "fd00:9::3/64"},
		"r1:eth1": {"198.18.4.77/24", "fd00:9:0:1::1/64"},
		"h3:eth0": {"198.18.4.1/24", "fd00:9:0:1::2/64"},
	}
	for _, l := range topo.Links {
		for _, ep := range l.Endpoints {
			if topo.Node(ep.Node).Kind == KindSwitch {
				continue
			}
			key := ep.Node + ":" + ep.Iface
			var got []string
			for _, a := range ep.Addrs {
				got = append(got, a.String())
			}
			if strings.Join(got, " ") != strings.Join(want[key], " ") {
				t.Errorf("%s: got %v, want %v", key, got, want[key])
			}
		}
	}
	h1 := topo.Node("h1")
	if len(h1.Routes) != 2 || h1.Routes[0].Via != netip.MustParseAddr("198.18.5.1") || h1.Routes[1].Via != netip.MustParseAddr("fd00:9::1") {
		t.Errorf("h1 routes via auto = %+v, want default via r1's LAN addresses", h1.Routes)
	}
}

func TestDefaultsPrecedence(t *testing.T) {
	topo := mustParse(t, `
name: prec
defaults: {mtu: 9000, kind: router}
kinds:
  router: {mtu: 4000, ospf: {hello: 2, dead: 8}}
nodes:
  r1: {}
  r2: {mtu: 1400}
  h1: {kind: host}
links:
  - {endpoints: [r1, r2], mtu: 1300}
  - [r1, h1]
`)
	cases := []struct {
		node       string
		kind       Kind
		mtu        int
		ospfHello  int
		firstIfMTU int
	}{
		{"r1", KindRouter, 4000, 2, 1300},
		{"r2", KindRouter, 1400, 2, 1300},
		{"h1", KindHost, 9000, 0, 9000},
	}
	for _, c := range cases {
		n := topo.Node(c.node)
		hello := 0
		if n.OSPF != nil {
			hello = n.OSPF.Hello
		}
		if n.Kind != c.kind || n.MTU != c.mtu || hello != c.ospfHello {
			t.Errorf("%s: kind %s mtu %d hello %d; want %s %d %d", c.node, n.Kind, n.MTU, hello, c.kind, c.mtu, c.ospfHello)
		}
		if mtu := topo.Interfaces(c.node)[0].MTU; mtu != c.firstIfMTU {
			t.Errorf("%s: first interface mtu %d, want %d", c.node, mtu, c.firstIfMTU)
		}
	}
}

func TestShippedExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/labs/*.yaml")
	if len(files) < 4 {
		t.Fatalf("want at least 4 shipped examples, found %v", files)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
	if _, err := os.Stat("../docs/lab.md"); err != nil {
		t.Errorf("the examples are documented in docs/lab.md: %v", err)
	}
}

func TestRateParse(t *testing.T) {
	for in, want := range map[string]uint64{"100mbit": 100e6, "1gbit": 1e9, "1.5mbit": 1.5e6, "10mbps": 80e6, "64kbit": 64e3, "4.1mbit": 4_100_000, "100kbps": 800_000} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1mbit", "10", "50%"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}

func TestOSPFConfig(t *testing.T) {
	topo := mustParse(t, `
name: o
addressing: auto
kinds: {router: {ospf: true}}
nodes: {r1: {kind: router}, r2: {kind: router}, h: {}}
links: [[r1, r2], [r1, h]]
`)
	conf := ospfdConfig(topo, resolvedSegments(topo), topo.Node("r1"))
	for _, w := range []string{
		"interface eth0\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n ip ospf network point-to-point\n",
		" ospf router-id 198.18.0.1\n", " passive-interface eth1\n",
		" network 198.18.0.0/24 area 0\n", " network 198.18.1.0/24 area 0\n",
	} {
		if !strings.Contains(conf, w) {
			t.Errorf("ospfd.conf lacks %q:\n%s", w, conf)
		}
	}
	if n := expectedNeighbours(topo, resolvedSegments(topo), topo.Node("r1")); n != 1 {
		t.Errorf("r1 expects %d neighbours, want 1", n)
	}
}

func TestDOT(t *testing.T) {
	topo := mustParse(t, `
name: g
nodes: {a: {}, b: {}}
links:
  - {endpoints: ["a:eth0", "b:eth0"], rate: 10mbit, subnets: [198.18.7.0/24]}
`)
	dot := DOT(topo)
	for _, w := range []string{`graph "g" {`, `"a" -- "b"`, `taillabel="eth0\n198.18.7.1/24"`, `label="10mbit"`} {
		if !strings.Contains(dot, w) {
			t.Errorf("DOT lacks %q:\n%s", w, dot)
		}
	}
}

// The topology in docs/lab.md must stay valid.
func TestDocsExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/lab.md")
	if err != nil {
		t.Fatalf("docs/lab.md must exist and hold a yaml block: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/lab.md has no yaml block")
	}
	topo := mustParse(t, src)
	if got := topo.Interfaces("r1")[1].Addrs[0].String(); got != "198.18.1.1/24" {
		t.Errorf("r1 on lan2 = %s, want 198.18.1.1/24 (the docs say routers come first)", got)
	}
}

// Broken input of any shape gives errors, never a panic.
func TestParseJunk(t *testing.T) {
	for _, src := range []string{
		"", "[]", "name: x", "nodes: 3", "nodes: [a]", "links: {a: b}",
		"nodes: {a: {}}\nlinks: [{}]", "nodes: {a: {}}\nlinks: [[a]]", "nodes: {a: {}}\nlinks: [[a, a, a]]",
		"nodes: {a: {routes: [{}]}}", "nodes: {a: {ospf: {dead: 1, hello: 2}}}", "addressing: {ipv4: x}",
		"nodes: {a: null, b: ~}\nlinks: [[a, b], {endpoints: [{node: a, addresses: [1.2.3.4]}, b]}]",
	} {
		if _, err := Parse("junk.yaml", []byte(src)); err == nil {
			t.Errorf("accepted %q", src)
		}
	}
}
