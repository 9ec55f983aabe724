package classify_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
	"github.com/shaperdev/shaper/policy"
)

func TestMatchExamples(t *testing.T) {
	apps := []policy.App{
		{Name: "web", Match: []policy.Selector{{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}}}}},
		{Name: "dns", Match: []policy.Selector{{Ports: []policy.PortRange{{Lo: 53, Hi: 53}}}}},
		{Name: "lan", Match: []policy.Selector{{Dst: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16")}}}},
	}
	b := classify.Binding{
		AppID:    map[string]uint32{"web": 1, "dns": 2, "lan": 3},
		AppClass: map[string]classify.Class{"web": {ClassID: 0x10010, Slot: 0x10}, "dns": {ClassID: 0x10020, Slot: 0x20}},
		Default:  classify.Class{ClassID: 0x10030, Slot: 0x30},
	}
	a4 := netip.MustParseAddr
	tests := []struct {
		name string
		p    classify.Packet
		want uint32
	}{
		{"https", classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 40000, DPort: 443, Src: a4("198.19.0.1"), Dst: a4("198.19.8.8")}, 1},
		{"udp 443 is not web", classify.Packet{IsIP: true, Proto: 17, HasPorts: true, SPort: 40000, DPort: 443, Src: a4("198.19.0.1"), Dst: a4("198.19.8.8")}, 0},
		{"dns reply by sport", classify.Packet{IsIP: true, Proto: 17, HasPorts: true, SPort: 53, DPort: 40000, Src: a4("198.19.0.1"), Dst: a4("198.19.8.8")}, 2},
		{"web wins over lan", classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 1, DPort: 80, Src: a4("198.19.0.1"), Dst: a4("198.18.0.1")}, 1},
		{"lan icmp", classify.Packet{IsIP: true, Proto: 1, Src: a4("198.19.0.1"), Dst: a4("198.18.0.9")}, 3},
		{"later fragment to 53 has no ports", classify.Packet{IsIP: true, Proto: 17, Src: a4("198.19.0.1"), Dst: a4("198.19.8.8")}, 0},
		{"non-IP", classify.Packet{}, 0},
	}
	tab, err := classify.Compile(apps, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		got := classify.Match(apps, b, tc.p)
		if got.App != tc.want {
			t.Errorf("%s: Match app %d, want %d", tc.name, got.App, tc.want)
		}
		if l := tab.Lookup(tc.p); l != got {
			t.Errorf("%s: Lookup %+v, Match %+v", tc.name, l, got)
		}
	}
	if r := classify.Match(apps, b, classify.Packet{}); r != (classify.Result{ClassID: 0x10030, Slot: 0x30}) {
		t.Errorf("unmatched result %+v", r)
	}
}

// TestLookupAgreesWithMatch holds the compiled tables against the policy's
// semantics on many random policies and packets, with each address field
// looked up as compiled (hash probes for few prefix lengths, the trie for
// more) and once more with every field forced to the trie.
func TestLookupAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	policies, packets := 3000, 100
	if testing.Short() {
		policies = 500
	}
	matched := 0
	var paths classifytest.Paths
	for i := range policies {
		apps := classifytest.Apps(r, 8)
		b := classifytest.Binding(r, apps)
		tab, err := classify.Compile(apps, b)
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		paths.Add(tab)
		trie := *tab
		for f := range trie.Addr {
			trie.Addr[f].LPM = true
		}
		for range packets {
			p := classifytest.WithOwner(r, classifytest.Packet(r))
			want := classify.Match(apps, b, p)
			if got := tab.Lookup(p); got != want {
				t.Fatalf("policy %d %+v\nplans %+v\npacket %+v: Lookup %+v, Match %+v", i, apps, tab.Addr, p, got, want)
			}
			if got := trie.Lookup(p); got != want {
				t.Fatalf("policy %d %+v\npacket %+v: Lookup with tries only %+v, Match %+v", i, apps, p, got, want)
			}
			if want.App != 0 {
				matched++
			}
		}
	}
	// The domains are small so that matches are common; make sure they are.
	if total := policies * packets; matched < total/5 {
		t.Errorf("only %d of %d packets matched an app: the random domains are too sparse", matched, total)
	}
	if err := paths.Enough(policies / 10); err != nil {
		t.Error(err)
	}
	t.Logf("address fields compiled: %v", paths)
}

// Process and cgroup selectors: a program's app before a port app takes
// that program's packets on the port; fields AND.
func TestMatchOwners(t *testing.T) {
	apps := []policy.App{
		{Name: "ff", Match: []policy.Selector{{Process: "firefox"}}},
		{Name: "bk", Match: []policy.Selector{{Cgroup: "/backup.service", Protos: []uint8{6}}}},
		{Name: "web", Match: []policy.Selector{{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: 443, Hi: 443}}}}},
	}
	b := classify.Binding{AppID: map[string]uint32{"ff": 1, "bk": 2, "web": 3}, Cgroups: map[string]uint64{"/backup.service": 77}}
	tab, err := classify.Compile(apps, b)
	if err != nil {
		t.Fatal(err)
	}
	a4 := netip.MustParseAddr
	https := classify.Packet{IsIP: true, Proto: 6, HasPorts: true, SPort: 40000, DPort: 443, Src: a4("198.18.0.1"), Dst: a4("198.19.0.1")}
	with := func(comm string, cg uint64) classify.Packet { p := https; p.Comm, p.Cgroup = comm, cg; return p }
	udp := with("", 77)
	udp.Proto = 17
	for _, c := range []struct {
		name string
		p    classify.Packet
		want uint32
	}{
		{"firefox on 443 is ff", with("firefox", 0), 1},
		{"firefox in the backup cgroup is still ff (first)", with("firefox", 77), 1},
		{"curl on 443 is web", with("curl", 0), 3},
		{"backup cgroup tcp", with("", 77), 2},
		{"backup cgroup udp is not bk", udp, 0},
		{"unknown owner on 443 is web", https, 3},
	} {
		got := classify.Match(apps, b, c.p)
		if got.App != c.want {
			t.Errorf("%s: Match app %d, want %d", c.name, got.App, c.want)
		}
		if l := tab.Lookup(c.p); l != got {
			t.Errorf("%s: Lookup %+v, Match %+v", c.name, l, got)
		}
	}
}
