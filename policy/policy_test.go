package policy

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// designExample is the policy of DESIGN.md, "Policy v1".
const designExample = `version: 1
apps:                     # first match wins, in this order
  - name: web
    match:
      - {proto: tcp, dport: [80, 443]}
      - {proto: udp, dport: 443}
  - name: mail
    match: [{proto: tcp, dport: [25, 465, 587]}]
  - name: lan
    match: [{dst: 198.18.0.0/15}]
  - name: browser
    match: [{process: firefox}]
  - name: backup
    match: [{cgroup: /system.slice/backup.service}]
interfaces:
  - name: eth0
    netns: ""             # optional: the interface lives in this named netns
    egress:               # upload; HTB tree
      rate: 100mbit
      default: other
      classes:
        - {name: web,   rate: 50%, ceil: 100%, apps: [web]}
        - {name: mail,  rate: 30%, ceil: 100%, apps: [mail]}
        - {name: other, rate: 20%, ceil: 100%}
    ingress:              # download
      via: netns          # netns (default) | ifb
      tbf: {rate: 1024kbit, burst: 1540, latency: 50ms}
`

var cmpOpts = cmp.Options{
	cmpopts.IgnoreTypes(Pos{}, []Pos{}),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

func ports(ps ...uint16) []PortRange {
	out := make([]PortRange, len(ps))
	for i, p := range ps {
		out[i] = PortRange{Lo: p, Hi: p}
	}
	return out
}

func pct(bits uint64, percent float64) Rate { return Rate{Bits: bits, Percent: percent, Set: true} }

func TestParseDesignExample(t *testing.T) {
	p, err := Parse("policy.yaml", []byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Version: 1,
		Apps: []App{
			{Name: "web", Match: []Selector{{Protos: []uint8{6}, DPorts: ports(80, 443)}, {Protos: []uint8{17}, DPorts: ports(443)}}},
			{Name: "mail", Match: []Selector{{Protos: []uint8{6}, DPorts: ports(25, 465, 587)}}},
			{Name: "lan", Match: []Selector{{Dst: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}}}},
			{Name: "browser", Match: []Selector{{Process: "firefox"}}},
			{Name: "backup", Match: []Selector{{Cgroup: "/system.slice/backup.service"}}},
		},
		Interfaces: []Interface{{
			Name: "eth0",
			Egress: &Direction{
				Rate:    Rate{Bits: 100_000_000, Set: true},
				Default: "other",
				Classes: []Class{
					{Name: "web", Rate: pct(50_000_000, 50), Ceil: pct(100_000_000, 100), Apps: []string{"web"}},
					{Name: "mail", Rate: pct(30_000_000, 30), Ceil: pct(100_000_000, 100), Apps: []string{"mail"}},
					{Name: "other", Rate: pct(20_000_000, 20), Ceil: pct(100_000_000, 100)},
				},
			},
			Ingress: &Direction{
				Via: "netns",
				TBF: &TBF{Rate: 1_024_000, Burst: 1540, Latency: 50 * time.Millisecond},
			},
		}},
	}
	if diff := cmp.Diff(want, p, cmpOpts); diff != "" {
		t.Fatalf("decoded policy (-want +got):\n%s", diff)
	}
	// Positions point at the values as written.
	web := p.Interfaces[0].Egress.Classes[0]
	for _, c := range []struct {
		name      string
		got, want Pos
	}{
		{"app web", p.Apps[0].Pos, Pos{File: "policy.yaml", Line: 3, Col: 5}},
		{"app web name", p.Apps[0].NamePos, Pos{File: "policy.yaml", Line: 3, Col: 11}},
		{"selector", p.Apps[0].Match[1].Pos, Pos{File: "policy.yaml", Line: 6, Col: 9}},
		{"interface name", p.Interfaces[0].NamePos, Pos{File: "policy.yaml", Line: 16, Col: 11}},
		{"egress", p.Interfaces[0].Egress.Pos, Pos{File: "policy.yaml", Line: 19, Col: 7}},
		{"root rate", p.Interfaces[0].Egress.Rate.Pos, Pos{File: "policy.yaml", Line: 19, Col: 13}},
		{"default", p.Interfaces[0].Egress.DefaultPos, Pos{File: "policy.yaml", Line: 20, Col: 16}},
		{"class web", web.Pos, Pos{File: "policy.yaml", Line: 22, Col: 11}},
		{"class web name", web.NamePos, Pos{File: "policy.yaml", Line: 22, Col: 18}},
		{"class web rate", web.Rate.Pos, Pos{File: "policy.yaml", Line: 22, Col: 31}},
		{"class web apps", web.AppsPos[0], Pos{File: "policy.yaml", Line: 22, Col: 55}},
		{"tbf", p.Interfaces[0].Ingress.TBF.Pos, Pos{File: "policy.yaml", Line: 27, Col: 12}},
	} {
		if c.got != c.want {
			t.Errorf("%s at %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseForms(t *testing.T) {
	src := `version: 1
apps:
  - name: a
    match: {proto: [TCP, 17, sctp], port: ["8000-8100", 22], sport: "1024-65535", dport: 0x50}
  - name: b
    match: [{src: [198.18.0.1, "fd00::/8"], dst: fd00::1}]
  - name: c
    match: {proto: icmpv6, cgroup: /system.slice//x.service/}
interfaces:
  - name: veth-a
    netns: lab1
    egress:
    ingress: {via: ifb, rate: 10mbit}
  - name: veth-a
    egress: {rate: 1gbit, default: leaf, classes: [{name: mid, rate: 600mbit, classes: [{name: leaf, rate: 50%, ceil: 80%}]}]}
`
	p, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Apps[0].Match[0]
	if diff := cmp.Diff(Selector{
		Protos: []uint8{6, 17, 132},
		Ports:  []PortRange{{8000, 8100}, {22, 22}},
		SPorts: []PortRange{{1024, 65535}},
		DPorts: ports(80),
	}, a, cmpOpts); diff != "" {
		t.Errorf("selector a (-want +got):\n%s", diff)
	}
	b := p.Apps[1].Match[0]
	if got := []string{b.Src[0].String(), b.Src[1].String(), b.Dst[0].String()}; strings.Join(got, " ") != "198.18.0.1/32 fd00::/8 fd00::1/128" {
		t.Errorf("prefixes = %v", got)
	}
	if c := p.Apps[2].Match[0]; c.Cgroup != "/system.slice/x.service" || c.Protos[0] != 58 {
		t.Errorf("selector c = %+v", c)
	}
	lab := p.Interface("veth-a", "lab1")
	if lab == nil || lab.Egress == nil || lab.Egress.Shaped() || lab.Ingress.Via != "ifb" || lab.Ingress.Rate.Bits != 10_000_000 {
		t.Fatalf("veth-a in lab1 = %+v", lab)
	}
	d := p.Interface("veth-a", "").Egress
	leaf := d.Class("leaf")
	if leaf == nil || leaf.Rate.Bits != 300_000_000 || leaf.Ceil.Bits != 800_000_000 {
		t.Fatalf("leaf = %+v, want rate 300mbit (50%% of 600mbit), ceil 800mbit (80%% of the inherited 1gbit)", leaf)
	}
	if mid := d.Class("mid"); mid.Ceil.Bits != 1_000_000_000 || mid.Ceil.Set {
		t.Errorf("mid ceil = %+v, want the inherited 1gbit", mid.Ceil)
	}
	if p.Interface("veth-a", "other") != nil || p.Interface("eth0", "") != nil {
		t.Error("Interface found an entry that does not exist")
	}
	var walked []string
	d.Walk(func(c, parent *Class) {
		pn := "-"
		if parent != nil {
			pn = parent.Name
		}
		walked = append(walked, pn+">"+c.Name)
	})
	if got := strings.Join(walked, " "); got != "->mid mid>leaf" {
		t.Errorf("Walk = %q", got)
	}
	if l := d.Leaves(); len(l) != 1 || l[0] != leaf {
		t.Errorf("Leaves = %v", l)
	}
}

func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("examples: found %v, want policy.yaml and tbf.yaml", files)
	}
	for _, f := range files {
		p, err := Load(f)
		if err != nil {
			t.Fatalf("%s:\n%v", f, err)
		}
		if len(p.Apps) == 0 || len(p.Interfaces) == 0 {
			t.Errorf("%s: no apps or no interfaces", f)
		}
	}
	p, err := Load("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eg := p.Interface("eth0", "shaper-demo-client").Egress
	if eg.Class("web").Rate.Bits != 50_000_000 || eg.Class("other").Ceil.Bits != 100_000_000 {
		t.Errorf("examples/policy.yaml classes = %+v", eg.Classes)
	}
	p, err = Load("../examples/tbf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if tbf := p.Interface("eth0", "shaper-demo-client").Egress.TBF; tbf == nil || tbf.Rate != 1_024_000 || tbf.Burst != 1540 || tbf.Latency != 50*time.Millisecond {
		t.Errorf("examples/tbf.yaml tbf = %+v", tbf)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	var es Errors
	if !errors.As(err, &es) || !es.BadInput() || !strings.Contains(err.Error(), "missing.yaml: cannot read the policy: no such file") {
		t.Fatalf("Load(missing) = %v", err)
	}
	f := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(f, []byte("version: 1\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(f)
	var e *Error
	if !errors.As(err, &e) || e.Pos != (Pos{File: f, Line: 2, Col: 1}) || !e.BadInput() {
		t.Fatalf("Load(bad) = %v, want one *Error at %s:2:1", err, f)
	}
}

func TestSelectorJSON(t *testing.T) {
	s := Selector{Protos: []uint8{6, 17}, DPorts: ports(443), Dst: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"proto":[6,17],"dport":[{"lo":443,"hi":443}],"dst":["fd00::/8"]}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back Selector
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back, cmpOpts); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}

func TestValidateIdempotent(t *testing.T) {
	p, err := Parse("policy.yaml", []byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(p)
	if string(before) != string(after) {
		t.Fatalf("Validate changed a validated policy:\n%s\n%s", before, after)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte("version: 1\ninterfaces: [{name: a, egress: {rate: 1mbit, default: x, classes: &c [{name: x, rate: 10%, classes: *c}]}}]"))
	f.Add([]byte("a: &a [*a, *a]\nversion: *a"))
	f.Add([]byte("version: 1\napps: [{name: a, match: {dport: 1-2, src: ::/0}}]\n---\nx: 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse returned policy %v and error %v", p, err)
		}
		if err != nil {
			if es, ok := err.(Errors); !ok || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a parsed policy does not validate again: %v", err)
		}
	})
}
