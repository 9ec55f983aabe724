package shaper_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

const kindsPolicy = `
version: 1
apps:
  - {name: web, match: [{proto: tcp, dport: 443}]}
  - {name: dl,  match: [{process: curl}]}
interfaces:
  - name: eth0
    netns: %s
    egress:
      rate: 10mbit
      default: other
      classes:
        - {name: web,   rate: %s, apps: [%s]}
        - {name: other, rate: 4mbit%s}
`

// --dry-run names the kind of each change: rules-only changes are map
// updates, rate changes class changes in place, a new default a rebuild.
func TestDryRunSaysChangeKind(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	ns := lab.Netns("client")
	pol := func(rate, apps, otherApps string) *policy.Policy {
		p, err := policy.Parse(t.Name()+".yaml", []byte(fmt.Sprintf(kindsPolicy, ns, rate, apps, otherApps)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := pol("6mbit", "web", "")
	dry := func(p *policy.Policy) string {
		var b bytes.Buffer
		if err := shaper.Apply(p, shaper.ApplyOptions{DryRun: true, Out: &b}); err != nil {
			t.Fatalf("dry run: %v", err)
		}
		return b.String()
	}
	first := dry(base)
	for _, want := range []string{"qdisc and classes: new root qdisc and classes", "egress classifier: 2 selectors (1 multi-field), 5 map entries",
		"program load and attach"} {
		if !strings.Contains(first, want) {
			t.Errorf("first apply's dry run lacks %q:\n%s", want, first)
		}
	}
	if err := shaper.Apply(base, shaper.ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: ns}) })
	for _, c := range []struct {
		name string
		p    *policy.Policy
		want []string
	}{
		{"same", base, []string{"qdisc and classes: unchanged", "default class 1:20: unchanged"}},
		{"app moved", pol("6mbit", "web, dl", ""), []string{"qdisc and classes: unchanged", "map update only"}},
		{"rate", pol("5mbit", "web", ""), []string{"qdisc and classes: 1 class change(s) in place", ": unchanged"}},
	} {
		out := dry(c.p)
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("%s: dry run lacks %q:\n%s", c.name, want, out)
			}
		}
	}
}
