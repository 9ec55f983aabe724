package classifytest

import (
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// TestBenchPolicy checks what the benchmark relies on: the packets match
// the last app, prefixes are distinct, and each kind takes its path.
func TestBenchPolicy(t *testing.T) {
	for _, kind := range []BenchKind{BenchPorts, BenchTwoLens, BenchManyLens} {
		for _, n := range []int{1, 100, 10000, 100000} {
			apps, b, v4, v6 := BenchPolicy(kind, n)
			tab, err := classify.Compile(apps, b)
			if err != nil {
				t.Fatalf("%v %d: %v", kind, n, err)
			}
			last := uint32(len(apps))
			if got := classify.Match(apps, b, v4); got.App != last {
				t.Errorf("%v %d: v4 packet matches app %d, want %d", kind, n, got.App, last)
			}
			if got := classify.Match(apps, b, v6); n >= 100 && got.App != last {
				t.Errorf("%v %d: v6 packet matches app %d, want %d", kind, n, got.App, last)
			}
			if kind == BenchPorts {
				continue
			}
			if got, want := len(tab.Src)+len(tab.Dst), n-n/2; got != want {
				t.Errorf("%v %d: %d prefixes, want %d", kind, n, got, want)
			}
			if n >= 10000 {
				for i, p := range tab.Addr {
					if want := bpf.AddrHash; p.Mode() != uint8(want) && kind == BenchTwoLens {
						t.Errorf("%v %d: field %d mode %d, want hash", kind, n, i, p.Mode())
					}
					if kind == BenchManyLens && !p.LPM {
						t.Errorf("%v %d: field %d not in the trie", kind, n, i)
					}
				}
			}
		}
	}
}
