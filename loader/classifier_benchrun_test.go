package loader

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
)

// Benchmark helpers live in a _test file: production code never imports
// the classifytest fixtures. bench_u32_test.go (package loader_test) uses
// BenchClassifier, which test builds export to it.

// BenchResult is one row of the classifier benchmark (make bench).
type BenchResult struct {
	Rules    int     // map entries the benchmark policy asked for
	Entries  int     // map entries written (rules + proto and selector entries)
	V4Ns     float64 // ns per run of the classifier on a matching IPv4 TCP packet
	V6Ns     float64 // same for IPv6
	EmptyNs  float64 // ns per run of a program that only returns TCX_NEXT
	V4Match  bool    // the packets matched an app (every lookup ran)
	V6Match  bool
	Addrs    string        // how each address field is looked up: src4 dst4 src6 dst6, "h2" = 2 hash probes, "lpm", "-" none
	LoadTime time.Duration // compile + load + write the rules
}

// BenchClassifier is BenchClassifierKind with half ports, half /32 and /24
// (/128 and /64) prefixes.
func BenchClassifier(rules, repeat int) (BenchResult, error) {
	return BenchClassifierKind(classifytest.BenchTwoLens, rules, repeat)
}

// BenchClassifierKind loads the classifier with a policy of `rules` entries
// (classifytest.BenchPolicy) and times it with BPF_PROG_TEST_RUN, `repeat`
// runs per measurement, best of 5, against the empty program. Needs root.
func BenchClassifierKind(kind classifytest.BenchKind, rules, repeat int) (BenchResult, error) {
	res := BenchResult{Rules: rules}
	start := time.Now()
	apps, b, p4, p6 := classifytest.BenchPolicy(kind, rules)
	tab, err := classify.Compile(apps, b)
	if err != nil {
		return res, fmt.Errorf("compile bench policy: %w", err)
	}
	res.Entries = tab.Entries()
	res.Addrs = addrPaths(tab)
	res.V4Match, res.V6Match = tab.Lookup(p4).App != 0, tab.Lookup(p6).App != 0
	c, err := LoadClassifierFor(Knobs{Shaped: true}, "", tab)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Update(tab); err != nil {
		return res, fmt.Errorf("write %d rules: %w", rules, err)
	}
	res.LoadTime = time.Since(start)

	var empty bpf.EmptyObjects
	if err := bpf.LoadEmptyObjects(&empty, nil); err != nil {
		return res, fmt.Errorf("load empty program: %w", err)
	}
	defer empty.Close()

	for _, m := range []struct {
		prog *ebpf.Program
		pkt  []byte
		out  *float64
	}{
		{empty.ShaperEmpty, benchPacket(p4), &res.EmptyNs},
		{c.Program(), benchPacket(p4), &res.V4Ns},
		{c.Program(), benchPacket(p6), &res.V6Ns},
	} {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			_, d, err := m.prog.Benchmark(m.pkt, repeat, nil)
			if err != nil {
				return res, fmt.Errorf("benchmark: %w", err)
			}
			best = min(best, d)
		}
		*m.out = float64(best.Nanoseconds())
	}
	return res, nil
}

// benchPacket builds an Ethernet + IPv4/IPv6 + TCP packet of p's tuple (no
// checksums: the classifier does not read them).
func benchPacket(p classify.Packet) []byte {
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], p.SPort)
	binary.BigEndian.PutUint16(tcp[2:], p.DPort)
	tcp[12] = 5 << 4
	if p.Src.Is4() {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, p.Proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
		s, d := p.Src.As4(), p.Dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		return append(append(eth, ip...), tcp...)
	}
	eth[12], eth[13] = 0x86, 0xdd
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, p.Proto, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
	s, d := p.Src.As16(), p.Dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(append(eth, ip...), tcp...)
}

// addrPaths sums up the address fields' plans for the benchmark table.
func addrPaths(t *classify.Tables) string {
	var out []string
	for _, p := range t.Addr {
		switch p.Mode() {
		case bpf.AddrNone:
			out = append(out, "-")
		case bpf.AddrLPM:
			out = append(out, "lpm")
		default:
			out = append(out, fmt.Sprintf("h%d", len(p.Lens)))
		}
	}
	return strings.Join(out, " ")
}

// AppsBenchResult is one row of the apps benchmark (make bench).
type AppsBenchResult struct {
	Apps, Prefixes, Selectors, Multi int
	HitNs, MissNs, EmptyNs           float64
	Hit                              bool // the hit packet matched the last app
	Compile, Load, Write             time.Duration
}

// BenchApps times the classifier on classifytest.BenchApps(apps,
// prefixes): a packet matching the last selector and one matching none,
// `repeat` runs per measurement, best of 5. Needs root.
func BenchApps(apps, prefixes, repeat int) (AppsBenchResult, error) {
	res := AppsBenchResult{Apps: apps, Prefixes: prefixes}
	pol, b, hit, miss := classifytest.BenchApps(apps, prefixes)
	start := time.Now()
	tab, err := classify.Compile(pol, b)
	if err != nil {
		return res, fmt.Errorf("compile: %w", err)
	}
	res.Compile = time.Since(start)
	res.Selectors, res.Multi = len(tab.Sel), len(tab.MultiIdx)
	res.Hit = tab.Lookup(hit).App == uint32(apps) && tab.Lookup(miss).App == 0
	start = time.Now()
	c, err := LoadClassifierFor(Knobs{Shaped: true}, "", tab)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Load = time.Since(start)
	start = time.Now()
	if err := c.Update(tab); err != nil {
		return res, fmt.Errorf("write rules: %w", err)
	}
	res.Write = time.Since(start)
	var empty bpf.EmptyObjects
	if err := bpf.LoadEmptyObjects(&empty, nil); err != nil {
		return res, fmt.Errorf("load empty program: %w", err)
	}
	defer empty.Close()
	for _, m := range []struct {
		prog *ebpf.Program
		pkt  []byte
		out  *float64
	}{
		{empty.ShaperEmpty, benchPacket(hit), &res.EmptyNs},
		{c.Program(), benchPacket(hit), &res.HitNs},
		{c.Program(), benchPacket(miss), &res.MissNs},
	} {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			_, d, err := m.prog.Benchmark(m.pkt, repeat, nil)
			if err != nil {
				return res, fmt.Errorf("benchmark: %w", err)
			}
			best = min(best, d)
		}
		*m.out = float64(best.Nanoseconds())
	}
	return res, nil
}
