package shaper

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/loader"
)

// renamedPolicy is a policy of n port apps and one ping app, every name
// carrying the apply's round, so that each apply renames them all.
func renamedPolicy(ns string, round, n int) string {
	var b strings.Builder
	b.WriteString("version: 1\napps:\n")
	for k := range n {
		fmt.Fprintf(&b, "  - {name: a%d-%d, match: [{dport: %d}]}\n", round, k, 10000+k)
	}
	fmt.Fprintf(&b, "  - {name: ping%d, match: [{proto: icmp}]}\n", round)
	fmt.Fprintf(&b, `interfaces:
  - name: eth0
    netns: %s
    egress:
      rate: 10mbit
      default: other
      classes:
        - {name: icmp, rate: 2mbit, apps: [ping%d]}
        - {name: other, rate: 2mbit}
`, ns, round)
	return b.String()
}

// Applies renaming 2,048 apps each time go round the 16,383 app ids: every apply works, the ping app's counter holds exactly its own
// pings (a reused slot starts from zero), and the apps' counts plus the
// retired ones always add up to what the classifier counted per class.
func TestAppIDsRenamedPastIDSpace(t *testing.T) {
	lab, ns := engineLab(t)
	const n, rounds, pings = 2047, 9, 3 // 9 × 2,048 names > bpf.MaxApps
	for round := range rounds {
		t0 := time.Now()
		text := renamedPolicy(ns, round, n)
		mustApply(t, mustParse(t, "%s", text), ApplyOptions{})
		t.Logf("round %d: applied in %v", round, time.Since(t0))
		ping(t, lab, pings)
		st, err := LoadState(ns, "eth0")
		if err != nil || st == nil {
			t.Fatalf("round %d: state: %v", round, err)
		}
		classes, apps, err := loader.ReadCounters(loader.PinDir(ns, "eth0", loader.Egress))
		if err != nil {
			t.Fatal(err)
		}
		id := st.AppIDs[fmt.Sprintf("ping%d", round)]
		if got := apps[id].Packets; got != pings {
			t.Errorf("round %d: ping%d (id %d) counted %d packets, want exactly %d", round, round, id, got, pings)
		}
		// Only the ping apps see traffic, all of it in class icmp (1:10):
		// their counts and the retired ones add up to that class's. (The
		// unmatched app and class other get IPv6 chatter at any time.)
		var appSum uint64
		for id, c := range apps {
			if id != 0 {
				appSum += c.Bytes
			}
		}
		retired := st.Retired[loader.Egress.String()]
		if icmp := classes[0x10].Bytes; appSum+retired.Bytes != icmp || icmp != uint64(round+1)*pings*98 {
			t.Errorf("round %d: apps %d + retired %d bytes != %d bytes counted in class icmp (want %d)",
				round, appSum, retired.Bytes, icmp, (round+1)*pings*98)
		}
		if len(st.AppIDs) > bpf.MaxApps-1 {
			t.Errorf("round %d: %d app ids in the state, at most %d", round, len(st.AppIDs), bpf.MaxApps-1)
		}
	}
	st, _ := LoadState(ns, "eth0")
	if r := st.Retired[loader.Egress.String()]; r.Packets < pings {
		t.Errorf("after %d rounds of %d names, retired holds %d packets: no ping app's id was reused", rounds, n+1, r.Packets)
	}
	rep, err := Status(StatusOptions{Netns: ns})
	if err != nil || len(rep.Interfaces) != 1 || rep.Interfaces[0].Egress.Retired.Packets < pings {
		t.Errorf("status does not show the retired counts: %v %+v", err, rep)
	}
}
