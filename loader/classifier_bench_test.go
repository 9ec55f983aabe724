package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"

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
