package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVolume(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{
		{"50GB", 50e9}, {"50gb", 50e9}, {"1kB", 1000}, {"12MB", 12e6}, {"2TB", 2e12},
		{"1KiB", 1024}, {"1.5MiB", 1572864}, {"3GiB", 3 << 30}, {"1TiB", 1 << 40},
		{"700", 700}, {"700B", 700}, {"0.5 kB", 500}, {"1.0000001kB", 1000},
		// serve's --history-max-size reads the same units.
		{"1GiB", 1 << 30}, {"500MB", 500e6}, {"1048576", 1 << 20}, {"1.5 KiB", 1536}, {"2kB", 2000},
	} {
		got, err := ParseVolume(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseVolume(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "GB", "1.2.3GB", "50 gigs", "-1GB", "1e3GB", "99999999999TB", "GiB", "-1MB", "1XB"} {
		if v, err := ParseVolume(in); err == nil {
			t.Errorf("ParseVolume(%q) = %d, want an error", in, v)
		}
	}
}

// quotaPolicy places app bulk in class fast on eth0's egress and ingress;
// class slow exists in both, class up only in egress, and x has children.
func quotaPolicy(quota string) string {
	return `version: 1
apps:
  - name: bulk
    match: {proto: tcp, dport: 5201}
    quota: ` + quota + `
  - name: web
    match: {proto: tcp, dport: 80}
interfaces:
  - name: eth0
    egress:
      rate: 100mbit
      default: slow
      classes:
        - {name: fast, rate: 20mbit, apps: [bulk]}
        - {name: slow, rate: 5mbit}
        - {name: up, rate: 5mbit}
        - {name: x, rate: 5mbit, classes: [{name: y, rate: 1mbit}]}
    ingress:
      rate: 100mbit
      default: slow
      classes:
        - {name: fast, rate: 20mbit, apps: [bulk]}
        - {name: slow, rate: 5mbit}
`
}

var quotaErrorCases = []struct {
	name, quota string
	want        string
}{
	{"unknown unit", "{volume: ^50GiBs, per: day, then: slow}", `unknown unit "GiBs" in volume "50GiBs"; write a volume like 50GB`},
	{"zero volume", "{volume: ^0MB, per: day, then: slow}", "the quota's volume is 0; give a volume above 0"},
	{"no volume", "^{per: day, then: slow}", `the quota has no volume; add e.g. "volume: 50GB"`},
	{"bad per", "{volume: 1GB, per: ^dya, then: slow}", `unknown per "dya"; did you mean "day"?`},
	{"no per", "^{volume: 1GB, then: slow}", `the quota has no per; add "per: ...": "day", "week" or "month"`},
	{"reset without month", "{volume: 1GB, per: week, then: slow, reset: ^3}", "reset without per: month"},
	{"reset out of range", "{volume: 1GB, per: month, then: slow, reset: ^31}", "reset day 31 is out of range; give a number from 1 to 28"},
	{"bad direction", "{volume: 1GB, per: day, then: slow, direction: ^upload}", `unknown direction "upload"; use "up", "down" or "both"`},
	{"no then", "^{volume: 1GB, per: day}", "the quota has no then class"},
	{"unknown key", "{volume: 1GB, per: day, then: slow, ^every: day}", `unknown key "every" in a quota`},
	{"then unknown", "{volume: 1GB, per: day, then: ^slwo}", `quota then class "slwo" does not exist in egress of "eth0", where app "bulk" is in class "fast"; the app moves there once its volume is used; name a leaf class of egress of "eth0": "slow", "up" or "y"`},
	{"then not in ingress", "{volume: 1GB, per: day, then: ^up}", `quota then class "up" does not exist in ingress of "eth0", where app "bulk" is in class "fast"`},
	{"then not a leaf", "{volume: 1GB, per: day, then: ^x, direction: up}", `quota then class "x" of egress of "eth0" has child classes`},
	{"then is its class", "{volume: 1GB, per: day, then: ^fast}", `quota then class "fast" is the class app "bulk" is in already (egress of "eth0")`},
}

func TestQuotaErrors(t *testing.T) {
	for _, tt := range quotaErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			src, marks := unmark(quotaPolicy(tt.quota))
			_, err := Parse("p.yaml", []byte(src))
			var es Errors
			if !errors.As(err, &es) || !es.BadInput() {
				t.Fatalf("error %v is not Errors", err)
			}
			if len(es) != 1 || len(marks) != 1 {
				t.Fatalf("got %d errors, want 1:\n%s", len(es), err)
			}
			if got, prefix := es[0].Error(), marks[0].String()+": "; !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Errorf("error = %q, want at %s containing %q", got, prefix, tt.want)
			}
		})
	}
}

// A quota that counts uploads only needs its then class in egress only; an
// app no class places needs then in every counted tree with classes.
func TestQuotaValid(t *testing.T) {
	for _, q := range []string{
		"{volume: 1GB, per: day, then: up, direction: up}",
		"{volume: 50GB, per: month, then: slow, reset: 15}",
		"{volume: 1.5TiB, per: week, then: slow, direction: down}",
	} {
		p, err := Parse("p.yaml", []byte(quotaPolicy(q)))
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p.Apps[0].Quota == nil || p.Apps[0].Quota.Volume == 0 {
			t.Fatalf("%s: quota %+v", q, p.Apps[0].Quota)
		}
	}
	p, _ := Parse("p.yaml", []byte(quotaPolicy("{volume: 50GB, per: month, then: slow, reset: 15}")))
	if q := *p.Apps[0].Quota; q.Volume != 50e9 || q.Per != PerMonth || q.Then != "slow" || q.Direction != QuotaBoth || q.Reset != 15 {
		t.Errorf("quota %+v", q)
	}
	src := "version: 1\napps: [{name: a, match: {proto: udp}, quota: {volume: 1GB, per: day, then: ^slow}}]\n" +
		"interfaces: [{name: eth0, egress: {rate: 1mbit, default: d, classes: [{name: d, rate: 500kbit}]}}]\n"
	src, marks := unmark(src)
	_, err := Parse("p.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), marks[0].String()+`: quota then class "slow" does not exist in egress of "eth0"; `) {
		t.Errorf("unplaced app: %v", err)
	}
	src = "version: 1\napps: [{name: a, match: {proto: udp}, quota: {volume: 1GB, per: day, then: ^slow}}]\n" +
		"interfaces: [{name: eth0, egress: {rate: 1mbit}}]\n"
	src, marks = unmark(src)
	_, err = Parse("p.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), marks[0].String()+`: app "a" has a quota, but no interface has classes in its direction`) {
		t.Errorf("no classes: %v", err)
	}
}

func TestWithQuotasSpent(t *testing.T) {
	p, err := Parse("p.yaml", []byte(quotaPolicy("{volume: 1GB, per: day, then: slow, direction: up}")))
	if err != nil {
		t.Fatal(err)
	}
	if p.WithQuotasSpent(nil) != p {
		t.Error("nothing spent: not the same policy")
	}
	q := p.WithQuotasSpent(map[string]bool{"bulk": true, "web": true})
	if got := q.Interfaces[0].Egress.AppClass()["bulk"]; got != "slow" {
		t.Errorf("egress: bulk in %q, want slow", got)
	}
	if got := q.Interfaces[0].Ingress.AppClass()["bulk"]; got != "fast" {
		t.Errorf("ingress (not counted): bulk in %q, want fast", got)
	}
	if q.Interfaces[0].Ingress != p.Interfaces[0].Ingress {
		t.Error("ingress copied though nothing moved there")
	}
	if got := p.Interfaces[0].Egress.AppClass()["bulk"]; got != "fast" {
		t.Errorf("the original changed: bulk in %q", got)
	}
}
