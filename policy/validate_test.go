package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// apps0 declares two apps on lines 2-6, so interfaces start on line 7.
const apps0 = `version: 1
apps:
  - name: web
    match: {proto: tcp, dport: 80}
  - name: mail
    match: {proto: tcp, dport: 25}
`

func deepClasses(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[{name: c%d, rate: 1mbit, classes: ", i)
	}
	b.WriteString("^[]")
	b.WriteString(strings.Repeat("}]", n))
	return b.String()
}

// errorCases: a '^' in src marks where an error must be reported (it is
// removed before parsing); want holds, in the same order, text each error
// must contain. No other errors may be reported.
var errorCases = []struct {
	name string
	src  string
	want []string
}{
	{"unsupported version", "version: ^2\n", []string{"unsupported policy version 2; this shaper reads version 1"}},
	{"missing version", "^apps: []\n", []string{`the policy has no version; add "version: 1"`}},
	{"empty file", "^# nothing\n", []string{"the policy is empty"}},
	{"top level not a mapping", "^- 1\n", []string{"the policy must be a mapping (key: value), not a list"}},
	{"unknown key with suggestion", "version: 1\n^interface: []\n", []string{`unknown key "interface" in the policy; did you mean "interfaces"?`}},
	{"unknown key without suggestion", "version: 1\n^zzz: 1\n", []string{`unknown key "zzz" in the policy; known keys are "version", "apps" or "interfaces"`}},
	{"duplicate key", "version: 1\n^version: 1\n", []string{`"version" is given twice in the policy; the first is at line 1, column 1`}},
	{"wrong type", "version: 1\napps: ^{name: x}\n", []string{"apps must be a list, not a mapping"}},
	{"version not a number", "version: ^one\n", []string{`version must be a whole number, not the string "one"`}},
	{"two documents", "version: 1\n^---\nversion: 1\n", []string{"a file holds one YAML document, this is a second one"}},

	// apps and selectors
	{"duplicate app", apps0 + "  - name: ^web\n    match: {proto: udp}\n", []string{`duplicate app "web"; app names must be unique; the first is at line 3, column 11`}},
	{"app name not a string", "version: 1\napps: [{name: ^80, match: {proto: tcp}}]\n", []string{`app name must be a string, not the number 80; quote it if you mean the text: "80"`}},
	{"app name invalid", "version: 1\napps: [{name: ^'a b', match: {proto: tcp}}]\n", []string{`invalid app name "a b"`}},
	{"app without name", "version: 1\napps: [^{match: {proto: tcp}}]\n", []string{"app needs a name"}},
	{"app without match", "version: 1\napps: [^{name: a}]\n", []string{`app "a" has no match`}},
	{"empty selector", "version: 1\napps: [{name: a, match: [^{}]}]\n", []string{"this selector has no fields, so it would match every packet; put that traffic in the default class"}},
	{"empty match list", "version: 1\napps: [{name: a, match: ^[]}]\n", []string{"match is an empty list"}},
	{"unknown selector key", "version: 1\napps: [{name: a, match: {proto: tcp, ^dports: 80}}]\n", []string{`unknown key "dports" in a selector; did you mean "dport"?`}},
	{"unknown proto", "version: 1\napps: [{name: a, match: {proto: ^tcpp}}]\n", []string{`unknown protocol "tcpp"; did you mean "tcp"?`}},
	{"proto out of range", "version: 1\napps: [{name: a, match: {proto: [tcp, ^256]}}]\n", []string{"protocol number 256 is out of range"}},
	{"port zero", "version: 1\napps: [{name: a, match: {port: ^0}}]\n", []string{`port "0" is out of range`}},
	{"port too big", "version: 1\napps: [{name: a, match: {sport: [1, ^65536]}}]\n", []string{`sport "65536" is out of range`}},
	{"port range backwards", "version: 1\napps: [{name: a, match: {dport: ^9000-8000}}]\n", []string{`dport range "9000-8000" is backwards; write it low to high: "8000-9000"`}},
	{"port not a number", "version: 1\napps: [{name: a, match: {dport: ^http}}]\n", []string{`invalid dport "http"`}},
	{"ports on icmp", "version: 1\napps: [{name: a, match: {proto: icmp, dport: ^80}}]\n", []string{"dport can never match: proto icmp has no ports"}},
	{"host bits set", "version: 1\napps: [{name: a, match: {src: ^198.18.0.1/15}}]\n", []string{`src prefix "198.18.0.1/15" has host bits set; did you mean 198.18.0.0/15?`}},
	{"bad address", "version: 1\napps: [{name: a, match: {dst: [fd00::1, ^300.1.1.1]}}]\n", []string{`invalid dst address "300.1.1.1"`}},
	{"mixed families", "version: 1\napps: [{name: a, match: {src: fd00::/8, dst: ^198.18.0.0/15}}]\n", []string{"this selector can never match: src and dst are of different address families"}},
	{"process too long", "version: 1\napps: [{name: a, match: {process: ^a-very-long-process}}]\n", []string{`invalid process name "a-very-long-process"`}},
	{"cgroup relative", "version: 1\napps: [{name: a, match: {cgroup: ^system.slice}}]\n", []string{`cgroup "system.slice" is not an absolute path`}},

	// interfaces
	{"interface name too long", "version: 1\ninterfaces: [{name: ^abcdefghijklmnop, egress: {}}]\n", []string{`invalid interface name "abcdefghijklmnop": it is longer than 15 characters`}},
	{"interface name slash", "version: 1\ninterfaces: [{name: ^a/b, egress: {}}]\n", []string{`invalid interface name "a/b"`}},
	{"interface without name", "version: 1\ninterfaces: [^{egress: {}}]\n", []string{"the interface needs a name"}},
	{"interface without directions", "version: 1\ninterfaces: [^{name: eth0}]\n", []string{`interface "eth0" has neither egress nor ingress`}},
	{"netns with slash", "version: 1\ninterfaces: [{name: eth0, netns: ^a/b, egress: {}}]\n", []string{`invalid netns name "a/b"`}},
	{"duplicate interface", "version: 1\ninterfaces:\n  - {name: eth0, netns: x, egress: {}}\n  - {name: eth0, netns: y, egress: {}}\n  - {name: ^eth0, netns: x, ingress: {}}\n",
		[]string{`interface "eth0" in netns "x" is listed twice; merge the two entries; the first is at line 3, column 12`}},
	{"via on egress", "version: 1\ninterfaces: [{name: eth0, egress: {via: ^ifb}}]\n", []string{"via is only for ingress"}},
	{"unknown via", "version: 1\ninterfaces: [{name: eth0, ingress: {via: ^tunnel}}]\n", []string{`unknown via "tunnel"`}},
	{"direction not a mapping", "version: 1\ninterfaces: [{name: eth0, egress: ^10mbit}]\n", []string{`egress must be a mapping (key: value), not the string "10mbit"`}},

	// rates and classes
	{"unknown unit", apps0 + "interfaces:\n  - name: eth0\n    egress:\n      rate: ^10mbits\n", []string{
		`unknown unit "mbits" in rate "10mbits"; use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps or a percentage like 50%`}},
	{"root rate percentage", "version: 1\ninterfaces: [{name: eth0, egress: {rate: ^50%}}]\n", []string{`the rate of egress of "eth0" cannot be a percentage`}},
	{"root rate zero", "version: 1\ninterfaces: [{name: eth0, egress: {rate: ^0}}]\n", []string{"rate must be above 0"}},
	{"classes without rate", "version: 1\ninterfaces: [{name: eth0, egress: ^{default: a, classes: [{name: a, rate: 1mbit}]}}]\n", []string{`egress of "eth0" has classes but no rate`}},
	{"class without rate", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 1mbit, default: a, classes: [^{name: a}]}}]\n", []string{`class "a" has no rate`}},
	{"class rate zero", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 1mbit, default: a, classes: [{name: a, rate: ^0bit}]}}]\n", []string{"rate must be above 0"}},
	{"class rate rounds to zero", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 100bit, default: a, classes: [{name: a, rate: ^0.5%}]}}]\n", []string{`the rate of class "a" comes to 0 bit/s`}},
	{"ceil below rate", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: a, classes: [{name: a, rate: 5mbit, ceil: ^20%}]}}]\n", []string{
		`the ceil 2mbit of class "a" is below its rate 5mbit`}},
	{"child ceil above parent ceil", "version: 1\ninterfaces:\n- name: eth0\n  egress:\n    rate: 10mbit\n    default: b\n    classes:\n    - {name: a, rate: 5mbit, ceil: 5mbit, classes: [{name: b, rate: 1mbit, ceil: ^6mbit}]}\n", []string{
		`the ceil 6mbit of class "b" is above the ceil 5mbit of class "a"`}},
	{"ceil above root rate", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: a, classes: [{name: a, rate: 1mbit, ceil: ^11mbit}]}}]\n", []string{
		`the ceil 11mbit of class "a" is above the ceil 10mbit of egress of "eth0"`}},
	{"children above parent rate", apps0 + "interfaces:\n  - name: eth0\n    egress:\n      rate: 100mbit\n      default: c\n      classes:\n        - {name: a, rate: 60%}\n        - {name: b, rate: 30mbit}\n        - {name: c, rate: ^20mbit}\n", []string{
		`the rates of the classes under egress of "eth0" add up to 110mbit, above its rate 100mbit`}},
	{"children above parent class rate", "version: 1\ninterfaces:\n- name: eth0\n  egress:\n    rate: 10mbit\n    default: b\n    classes:\n    - {name: a, rate: 5mbit, classes: [{name: b, rate: ^6mbit}]}\n", []string{
		`the rates of the classes under class "a" add up to 6mbit, above its rate 5mbit`}},
	{"duplicate class", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: b, classes: [{name: a, rate: 2mbit, classes: [{name: b, rate: 1mbit}, {name: ^a, rate: 1mbit}]}]}}]\n", []string{
		`duplicate class "a" in egress of "eth0"; class names must be unique within a direction; the first is at line 2, column 79`}},
	{"unknown app in class", apps0 + "interfaces: [{name: eth0, egress: {rate: 10mbit, default: a, classes: [{name: a, rate: 1mbit, apps: [web, ^wbe]}]}}]\n", []string{
		`unknown app "wbe"; did you mean "web"?`}},
	{"app in two classes", apps0 + "interfaces:\n- name: eth0\n  egress:\n    rate: 10mbit\n    default: a\n    classes:\n    - {name: a, rate: 1mbit, apps: [web]}\n    - {name: b, rate: 1mbit, apps: [mail, ^web]}\n", []string{
		`app "web" is already in class "a"`}},
	{"apps on a parent class", apps0 + "interfaces:\n- name: eth0\n  egress:\n    rate: 10mbit\n    default: b\n    classes:\n    - {name: a, rate: 1mbit, apps: [^web], classes: [{name: b, rate: 1mbit}]}\n", []string{
		`class "a" has child classes, so it cannot take apps`}},
	{"no default", "version: 1\ninterfaces: [{name: eth0, egress: ^{rate: 10mbit, classes: [{name: a, rate: 1mbit}, {name: b, rate: 1mbit}]}}]\n", []string{
		`egress of "eth0" has classes but no default; traffic of no listed app goes to the default class; name a leaf class: "a" or "b"`}},
	{"unknown default", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: ^x, classes: [{name: a, rate: 1mbit}]}}]\n", []string{
		`default class "x" does not exist; traffic of no listed app goes to the default class; name a leaf class: "a"`}},
	{"default not a leaf", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: ^a, classes: [{name: a, rate: 1mbit, classes: [{name: b, rate: 1mbit}]}]}}]\n", []string{
		`default class "a" has child classes; traffic of no listed app goes to the default class; name a leaf class: "b"`}},
	{"default without classes", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: ^a}}]\n", []string{`default class "a", but egress of "eth0" has no classes`}},
	{"prio out of range", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: a, classes: [{name: a, rate: 1mbit, prio: ^8}]}}]\n", []string{"prio 8 is out of range"}},
	{"classes too deep", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 10mbit, default: c6, classes: " + deepClasses(7) + "}}]\n", []string{
		"classes nest more than 7 levels deep"}},

	// tbf
	{"tbf with rate", "version: 1\ninterfaces: [{name: eth0, egress: {rate: 1mbit, tbf: ^{rate: 1mbit, burst: 1540, latency: 50ms}}}]\n", []string{`egress of "eth0" has tbf together with rate, classes or default`}},
	{"tbf without burst", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: ^{rate: 1mbit, latency: 50ms}}}]\n", []string{"tbf needs a burst"}},
	{"tbf latency and limit", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: {rate: 1mbit, burst: 1540, latency: 50ms, limit: ^10k}}}]\n", []string{"tbf takes latency or limit, not both"}},
	{"tbf without latency or limit", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: ^{rate: 1mbit, burst: 1540}}}]\n", []string{"tbf needs latency or limit"}},
	{"tbf percentage", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: {rate: ^50%, burst: 1540, limit: 10k}}}]\n", []string{"tbf rate must be an absolute rate, not a percentage"}},
	{"tbf peakrate without mtu", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: {rate: 1mbit, burst: 1540, limit: 10k, peakrate: ^2mbit}}}]\n", []string{"peakrate needs mtu"}},
	{"tbf bad latency", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: {rate: 1mbit, burst: 1540, latency: ^50m}}}]\n", []string{`unknown unit "m" in time "50m"`}},
	{"tbf zero burst", "version: 1\ninterfaces: [{name: eth0, egress: {tbf: {rate: 1mbit, burst: ^0, latency: 1ms}}}]\n", []string{"burst must be above 0"}},
}

// unmark removes the '^' markers from src and returns where they stood.
func unmark(src string) (string, []Pos) {
	var out strings.Builder
	var marks []Pos
	line, col := 1, 1
	for _, r := range src {
		switch r {
		case '^':
			marks = append(marks, Pos{File: "p.yaml", Line: line, Col: col})
			continue
		case '\n':
			line, col = line+1, 1
		default:
			col++
		}
		out.WriteRune(r)
	}
	return out.String(), marks
}

func TestErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			src, marks := unmark(tt.src)
			if len(marks) != len(tt.want) {
				t.Fatalf("bad test: %d markers for %d errors", len(marks), len(tt.want))
			}
			p, err := Parse("p.yaml", []byte(src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if p != nil {
				t.Errorf("Parse returned a policy together with errors")
			}
			var es Errors
			if !errors.As(err, &es) || !es.BadInput() {
				t.Fatalf("error %T is not Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(es), len(tt.want), err)
			}
			for i, w := range tt.want {
				prefix := marks[i].String() + ": "
				if got := es[i].Error(); !strings.HasPrefix(got, prefix) || !strings.Contains(got, w) {
					t.Errorf("error %d = %q, want at %s containing %q", i, got, prefix, w)
				}
			}
		})
	}
}

// The example: the '[' opened on line 4 is never closed. The
// parser notices on line 5; the error names line 4, where the fix goes.
func TestSyntaxError(t *testing.T) {
	src := "version: 1\napps:\n  - name: web\n    match: [{proto: tcp, dport: 443}\ninterfaces:\n  - name: eth0\n    egress: {}\n"
	_, err := Parse("policy.yaml", []byte(src))
	want := `policy.yaml:4:12: invalid YAML: the list opened here with '[' is never closed; add ']' where the list ends, before line 5
  4 |     match: [{proto: tcp, dport: 443}
    |            ^`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

// A policy with 30,000 bad prefixes prints the first 20 errors and one line
// for the rest, and each excerpt of the one long line stays short.
func TestErrorFlood(t *testing.T) {
	bad := make([]string, 30_000)
	for i := range bad {
		bad[i] = fmt.Sprintf("198.18.%d.%d/8", i/250, i%250)
	}
	src := "version: 1\napps: [{name: a, match: {dst: [" + strings.Join(bad, ", ") + "]}}]\n"
	_, err := Parse("p.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 30_000 {
		t.Fatalf("got %d errors, want 30000", len(es))
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 20*3+1 || lines[len(lines)-1] != "... and 29980 more errors" {
		t.Fatalf("printed %d lines, ending %q", len(lines), lines[len(lines)-1])
	}
	for _, l := range lines {
		if len(l) > 200 {
			t.Fatalf("a line of %d bytes: %.200s...", len(l), l)
		}
	}
	if !strings.HasPrefix(lines[0], `p.yaml:2:32: dst prefix "198.18.0.0/8" has host bits set`) {
		t.Errorf("first error = %s", lines[0])
	}
}

func TestSeveralErrorsAtOnce(t *testing.T) {
	src := `version: 1
apps:
  - name: web
    match: {proto: tcp, dport: 80, colour: blue}
  - name: web
    match: {proto: udp}
interfaces:
  - name: eth0
    egress:
      rate: 100mbits
      default: nope
      classes:
        - {name: a, rate: 50%, apps: [web, ghost]}
        - {name: b, rate: 50%, ceil: 120%, prio: 9}
`
	_, err := Parse("policy.yaml", []byte(src))
	want := []string{
		`policy.yaml:4:36: unknown key "colour" in a selector; known keys are "proto", "port", "sport", "dport", "src", "dst", "process" or "cgroup"`,
		`policy.yaml:5:11: duplicate app "web"; app names must be unique; the first is at line 3, column 11`,
		`policy.yaml:10:13: unknown unit "mbits" in rate "100mbits"; use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps or a percentage like 50%`,
		`policy.yaml:11:16: default class "nope" does not exist; traffic of no listed app goes to the default class; name a leaf class: "a" or "b"`,
		`policy.yaml:13:44: unknown app "ghost"; define it under apps:`,
		`policy.yaml:14:38: percentage "120%" is out of range; a percentage must be above 0% and at most 100%`,
		`policy.yaml:14:50: prio 9 is out of range; prio is 0 (served first) to 7`,
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %v is not Errors", err, err)
	}
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = e.Header()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every error quotes its line, with a caret under the column.
	if !strings.Contains(err.Error(), want[2]+"\n  10 |       rate: 100mbits\n     |             ^\n") {
		t.Errorf("no excerpt under the third error:\n%v", err)
	}
}

func TestValidateInGo(t *testing.T) {
	p := &Policy{
		Version: 1,
		Apps:    []App{{Name: "web"}},
		Interfaces: []Interface{{Name: "eth0", Egress: &Direction{
			Rate:    Rate{Bits: 10_000_000},
			Default: "b",
			Classes: []Class{
				{Name: "a", Rate: Rate{Percent: 40}, Apps: []string{"web"}},
				{Name: "b", Rate: Rate{Bits: 7_000_000}},
			},
		}}},
	}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "add up to 11mbit, above its rate 10mbit") {
		t.Fatalf("Validate = %v", err)
	}
	p.Interfaces[0].Egress.Classes[1].Rate.Bits = 6_000_000
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	a := p.Interfaces[0].Egress.Classes[0]
	if a.Rate.Bits != 4_000_000 || a.Ceil.Bits != 10_000_000 {
		t.Fatalf("class a resolved to rate %d ceil %d", a.Rate.Bits, a.Ceil.Bits)
	}
}

// YAML number forms read as the numbers they are: 1e6 is 1000000 bit/s,
// 0x600 bytes is 1536, and "4.1mbit" is exact.
func TestNumberForms(t *testing.T) {
	p, err := Parse("p.yaml", []byte("version: 1\ninterfaces:\n  - {name: a, egress: {rate: 1e6}}\n  - {name: b, egress: {tbf: {rate: 4.1mbit, burst: 0x600, latency: 1e3}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tbf := p.Interfaces[1].Egress.TBF
	if r := p.Interfaces[0].Egress.Rate.Bits; r != 1_000_000 || tbf.Rate != 4_100_000 || tbf.Burst != 1536 || tbf.Latency.Microseconds() != 1000 {
		t.Errorf("rate %d, tbf %+v", r, tbf)
	}
}
