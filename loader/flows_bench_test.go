package loader

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// flowBenchRuns is how many distinct flows the miss column times, each
// run once (a miss happens once per flow).
const flowBenchRuns = 10000

// flowBenchPasses of flowBenchRuns flows each fit in the default table.
const flowBenchPasses = 5

// TestFlowBenchTable prints the classifier's cost per packet on a flow
// table hit and on a miss (make bench). A hit is timed as the kernel
// times repeats of one packet (1e6 runs, best of 5); a miss cannot be
// repeated, so misses are flowBenchRuns packets of distinct flows run
// once each, and so are the empty program and hits for the same
// single-run overhead: compare Δ columns of the same way of timing.
// "stale" is a flow's first packet after a rule change (its entry is
// there, its generation old: the rules are evaluated again).
func TestFlowBenchTable(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	var empty bpf.EmptyObjects
	if err := bpf.LoadEmptyObjects(&empty, nil); err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%8s | %9s %9s %9s | %9s %9s %9s %9s %9s %9s\n", "rules", "empty ns", "hit ns", "hit Δ",
		"1× empty", "1× hit", "hit Δ", "1× miss", "miss Δ", "stale Δ")
	for _, n := range []int{1, 100, 10000, 100000} {
		r, err := benchFlows(empty.ShaperEmpty, n)
		if err != nil {
			t.Fatalf("%d rules: %v", n, err)
		}
		fmt.Fprintf(&b, "%8d | %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", n, r.empty, r.hit, r.hit-r.empty,
			r.empty1, r.hit1, r.hit1-r.empty1, r.miss1, r.miss1-r.empty1, r.stale1-r.empty1)
	}
	t.Logf("flow table: cost per packet, hit and miss (BPF_PROG_TEST_RUN, IPv4 TCP, prefixes of two lengths; "+
		"1× columns: best of %d medians of %d single runs of distinct flows):\n%s", flowBenchPasses, flowBenchRuns, b.String())
}

type flowBench struct {
	empty, hit                  float64 // ns per run, 1e6 repeats
	empty1, hit1, miss1, stale1 float64 // ns, median of single runs
}

func benchFlows(empty *ebpf.Program, rules int) (flowBench, error) {
	var r flowBench
	apps, bind, p4, _ := classifytest.BenchPolicy(classifytest.BenchTwoLens, rules)
	tab, err := classify.Compile(apps, bind)
	if err != nil {
		return r, err
	}
	c, err := LoadClassifierFor(Knobs{Shaped: true}, "", tab)
	if err != nil {
		return r, err
	}
	defer c.Close()
	if err := c.Update(tab); err != nil {
		return r, err
	}
	pass := func(n int) [][]byte {
		pkts := make([][]byte, flowBenchRuns)
		for i := range pkts {
			p := p4
			p.SPort = uint16(1024 + n*flowBenchRuns + i) // the local port: a new flow each
			pkts[i] = benchPacket(p)
		}
		return pkts
	}
	if r.empty, err = bestOf(empty, pass(0)[0], 1_000_000); err != nil {
		return r, err
	}
	r.empty1, r.hit1, r.miss1, r.stale1 = 1e9, 1e9, 1e9, 1e9
	// Best of flowBenchPasses medians, each pass on flows of its own.
	for n := range flowBenchPasses {
		pkts := pass(n)
		for _, m := range []struct {
			p   *ebpf.Program
			out *float64
		}{{empty, &r.empty1}, {c.Program(), &r.miss1}, {c.Program(), &r.hit1}} {
			d, err := median(m.p, pkts)
			if err != nil {
				return r, err
			}
			*m.out = min(*m.out, d)
		}
		if err := c.Update(tab); err != nil { // the same rules, a new generation
			return r, err
		}
		d, err := median(c.Program(), pkts)
		if err != nil {
			return r, err
		}
		r.stale1 = min(r.stale1, d)
	}
	if r.hit, err = bestOf(c.Program(), pass(0)[0], 1_000_000); err != nil {
		return r, err
	}
	return r, nil
}

func bestOf(p *ebpf.Program, pkt []byte, repeat int) (float64, error) {
	best := time.Duration(1<<63 - 1)
	for range 5 {
		_, d, err := p.Benchmark(pkt, repeat, nil)
		if err != nil {
			return 0, fmt.Errorf("benchmark: %w", err)
		}
		best = min(best, d)
	}
	return float64(best.Nanoseconds()), nil
}

// median runs each packet once and returns the median time.
func median(p *ebpf.Program, pkts [][]byte) (float64, error) {
	ds := make([]time.Duration, len(pkts))
	for i, pkt := range pkts {
		_, d, err := p.Benchmark(pkt, 1, nil)
		if err != nil {
			return 0, fmt.Errorf("benchmark: %w", err)
		}
		ds[i] = d
	}
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Nanoseconds()), nil
}
