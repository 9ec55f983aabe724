package policy

import (
	"strings"
	"testing"
)

func TestHintsSportForDownloads(t *testing.T) {
	const doc = `version: 1
apps:
  - {name: dl, match: [{proto: tcp, sport: 443}]}
  - {name: both, match: [{proto: tcp, sport: 8443}]}
interfaces:
  - name: eth0
    egress:
      rate: 10mbit
      default: o
      classes: [{name: b, rate: 50%, apps: [both]}, {name: o, rate: 50%}]
    ingress:
      rate: 10mbit
      default: o
      classes: [{name: d, rate: 50%, apps: [dl, both]}, {name: o, rate: 50%}]
`
	p, err := Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h := Hints(p)
	if len(h) != 1 || !strings.HasPrefix(h[0], "p.yaml:3:") || !strings.Contains(h[0], `app "dl"`) {
		t.Fatalf("hints = %q, want one for app dl at p.yaml:3", h)
	}
}
