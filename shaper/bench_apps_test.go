package shaper_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// TestBenchApplyApps prints the apply time of the subscriber policy: 10,000
// apps (one per subscriber, 10 /32 prefixes each: 100,000 prefixes; 200 of
// them with a multi-field selector too), 1,000 HTB classes. Goals from
// issue 9: full apply < 2 s, moving an app to another class (a map update,
// no reload) < 50 ms.
func TestBenchApplyApps(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") == "" {
		t.Skip("benchmark: run with SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	lab := labtest.Lab(t, benchApplyTopo)
	ns := lab.Netns("a")
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: ns}) })
	parse := func(moved bool) *policy.Policy {
		pol, err := policy.Parse(t.Name()+".yaml", []byte(subscriberPolicy(ns, 10_000, 10, 1_000, moved)))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return pol
	}
	base, moved := parse(false), parse(true)
	apply := func(p *policy.Policy) time.Duration {
		t0 := time.Now()
		if err := shaper.Apply(p, shaper.ApplyOptions{}); err != nil {
			t.Fatalf("apply: %v", err)
		}
		return time.Since(t0)
	}
	del := func() {
		if err := shaper.Delete(shaper.DeleteOptions{Netns: ns}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	runs := 3
	var first, noop, move []time.Duration
	for range runs {
		first = append(first, apply(base))
		noop = append(noop, apply(base))
		move = append(move, apply(moved), apply(base))
		del()
	}
	fmt.Printf("%-52s %-9s %5s %11s %11s\n", "case (10,000 apps, 100,000 prefixes, 1,000 classes)", "goal", "runs", "median", "max")
	for _, r := range []struct {
		name, goal string
		d          []time.Duration
	}{
		{"first apply", "< 2 s", first},
		{"no-op re-apply", "", noop},
		{"move one app to another class (map update)", "< 50 ms", move},
	} {
		s := slices.Clone(r.d)
		slices.Sort(s)
		fmt.Printf("%-52s %-9s %5d %11s %11s\n", r.name, r.goal, len(s), ms(s[len(s)/2]), ms(s[len(s)-1]))
	}
}

// subscriberPolicy is n apps of per /32 destinations each (every n/200-th
// also TCP to a port of its own), spread over `classes` HTB classes of
// 1mbit (the last is the default); moved puts app 0 in the second class.
func subscriberPolicy(ns string, n, per, classes int, moved bool) string {
	var b strings.Builder
	b.WriteString("version: 1\napps:\n")
	every := max(1, n/200)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: s%d, match: [", i)
		if i%every == 0 {
			fmt.Fprintf(&b, "{proto: tcp, dport: %d}, ", 10000+i/every)
		}
		b.WriteString("{dst: [")
		for j := range per {
			if j > 0 {
				b.WriteString(", ")
			}
			v := 10<<24 + i*per + j + 1
			fmt.Fprintf(&b, "%d.%d.%d.%d/32", v>>24, v>>16&0xff, v>>8&0xff, v&0xff)
		}
		b.WriteString("]}]}\n")
	}
	fmt.Fprintf(&b, "interfaces:\n  - name: eth0\n    netns: %s\n    egress:\n      rate: %dmbit\n      default: c%d\n      classes:\n",
		ns, classes, classes-1)
	perClass := (n + classes - 2) / (classes - 1)
	for c := range classes {
		var apps []string
		for i := c * perClass; i < min(n, (c+1)*perClass) && c < classes-1; i++ {
			if moved && i == 0 {
				continue
			}
			apps = append(apps, fmt.Sprintf("s%d", i))
		}
		if moved && c == 1 {
			apps = append(apps, "s0")
		}
		fmt.Fprintf(&b, "        - {name: c%d, rate: 1mbit, ceil: %dmbit, apps: [%s]}\n", c, classes, strings.Join(apps, ", "))
	}
	return b.String()
}
