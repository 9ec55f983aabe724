package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/classify/classifytest"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// TestClassifierBenchTable prints the classifier's cost per packet from 1
// to 100,000 rules (make bench), for policies of ports only, of prefixes of
// two lengths (hash probes) and of many lengths (LPM fallback). It is a benchmark, not a timed test: it
// asserts only that every size loads and that the packets matched.
func TestClassifierBenchTable(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	for _, kind := range []classifytest.BenchKind{classifytest.BenchPorts, classifytest.BenchTwoLens, classifytest.BenchManyLens} {
		var b strings.Builder
		fmt.Fprintf(&b, "%8s %8s %9s %9s %9s %9s %9s %8s  %s\n", "rules", "entries", "empty ns", "v4 ns", "v4 Δ", "v6 ns", "v6 Δ", "load",
			"src4 dst4 src6 dst6 (hN: N hash probes)")
		for _, n := range []int{1, 100, 10000, 100000} {
			r, err := BenchClassifierKind(kind, n, 1_000_000)
			if err != nil {
				t.Fatalf("%v, %d rules: %v", kind, n, err)
			}
			if !r.V4Match || (n >= 100 && !r.V6Match) {
				t.Errorf("%v, %d rules: bench packets do not match (v4 %v v6 %v)", kind, n, r.V4Match, r.V6Match)
			}
			fmt.Fprintf(&b, "%8d %8d %9.0f %9.0f %9.0f %9.0f %9.0f %8s  %s\n", n, r.Entries, r.EmptyNs,
				r.V4Ns, r.V4Ns-r.EmptyNs, r.V6Ns, r.V6Ns-r.EmptyNs, r.LoadTime.Round(1e6), r.Addrs)
		}
		t.Logf("classifier cost per packet, %v (BPF_PROG_TEST_RUN, best of 5 × 1e6 runs of one packet: flow table hits after the first; misses in TestFlowBenchTable):\n%s", kind, b.String())
	}
}

// TestClassifierAppsBenchTable prints the classifier's cost per packet
// from 1 to 10,000 apps sharing 100,000 prefixes (make bench): one app per
// subscriber, 200 of them with a multi-field selector too. The cost should
// not grow with the apps. It asserts only that the packets matched.
func TestClassifierAppsBenchTable(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	var b strings.Builder
	fmt.Fprintf(&b, "%7s %9s %9s %6s %9s %9s %9s %9s %9s %9s %9s %9s\n", "apps", "prefixes", "selectors", "multi",
		"empty ns", "hit ns", "hit Δ", "miss ns", "miss Δ", "compile", "load", "write")
	for _, n := range []int{1, 100, 1000, 10000} {
		r, err := BenchApps(n, 100_000, 1_000_000)
		if err != nil {
			t.Fatalf("%d apps: %v", n, err)
		}
		if !r.Hit {
			t.Errorf("%d apps: bench packets do not match as meant", n)
		}
		fmt.Fprintf(&b, "%7d %9d %9d %6d %9.0f %9.0f %9.0f %9.0f %9.0f %9s %9s %9s\n", n, r.Prefixes, r.Selectors, r.Multi,
			r.EmptyNs, r.HitNs, r.HitNs-r.EmptyNs, r.MissNs, r.MissNs-r.EmptyNs, r.Compile.Round(time.Millisecond), r.Load.Round(time.Millisecond), r.Write.Round(time.Millisecond))
	}
	t.Logf("classifier cost per packet by apps, 100,000 /32 prefixes (BPF_PROG_TEST_RUN, best of 5 × 1e6 runs):\n%s", b.String())
}
