package loader

import (
	"testing"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

func compileText(t *testing.T, apps string, ids map[string]uint32) *classify.Tables {
	t.Helper()
	pol, err := policy.Parse(t.Name()+".yaml", []byte("version: 1\napps:\n"+apps+"interfaces: [{name: eth0, egress: {}}]\n"))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	tabs, err := classify.Compile(pol.Apps, classify.Binding{AppID: ids})
	if err != nil {
		t.Fatal(err)
	}
	return tabs
}

// Equal rules give equal digests however they were built; any change to
// what the maps would hold changes the digest.
func TestTablesHash(t *testing.T) {
	ids := map[string]uint32{"web": 1, "lan": 2}
	base := "  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n"
	h := TablesHash(compileText(t, base, ids))
	if h2 := TablesHash(compileText(t, base, ids)); h2 != h {
		t.Errorf("same rules, digests %s and %s", h, h2)
	}
	seen := map[string]string{h: "base"}
	for name, c := range map[string]struct {
		apps string
		ids  map[string]uint32
	}{
		"port":      {"  - {name: web, match: [{proto: tcp, dport: [80, 444]}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n", ids},
		"sport":     {"  - {name: web, match: [{proto: tcp, sport: [80, 443]}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n", ids},
		"proto":     {"  - {name: web, match: [{proto: udp, dport: [80, 443]}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n", ids},
		"prefix":    {"  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.8.0/24, fd00::/8]}]}\n", ids},
		"src":       {"  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}\n  - {name: lan, match: [{src: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n", ids},
		"order":     {"  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}\n", ids},
		"app ids":   {base, map[string]uint32{"web": 2, "lan": 1}},
		"wildcards": {"  - {name: web, match: [{proto: tcp}]}\n  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}]}\n", ids},
	} {
		got := TablesHash(compileText(t, c.apps, c.ids))
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: same digest as %s", name, prev)
		}
		seen[got] = name
	}
}
