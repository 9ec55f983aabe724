package shaper_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// The apply-time benchmark: how long `shaper apply` takes in its common
// cases, in a fresh lab namespace, timed around shaper.Apply (parsing the
// policy is not included). Goals from issue 6: small first apply < 100 ms,
// no-op re-apply < 20 ms, rules-only change < 50 ms, 100,000 prefixes < 1 s.

const benchApplyTopo = `
name: bap
nodes: {a: {}, b: {}}
links:
  - endpoints:
      - {node: a, iface: eth0, addresses: [198.18.0.1/24]}
      - {node: b, iface: eth0, addresses: [198.18.0.2/24]}
`

// benchApplyPolicy is a two-class policy; %[2]s is the ping app's match,
// which the rules-only case changes.
const benchApplyPolicy = `
version: 1
apps:
  - {name: web,  match: [{proto: tcp, dport: [80, 443]}]}
  - {name: ping, match: [%[2]s]}%[3]s
interfaces:
  - name: eth0
    netns: %[1]s
    egress:
      rate: 10mbit
      default: other
      classes:
        - {name: web,   rate: 6mbit, apps: [web]}
        - {name: other, rate: 4mbit}
`

type applyRow struct {
	name, goal string
	times, cpu []time.Duration
}

// TestBenchApply prints case | goal | runs | median | p90 | max.
// SHAPER_BENCH_RUNS sets the runs per case (default 15; 5 for 100k).
func TestBenchApply(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") == "" {
		t.Skip("benchmark: run with SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	runs := 15
	if n, err := strconv.Atoi(os.Getenv("SHAPER_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	lab := labtest.Lab(t, benchApplyTopo)
	ns := lab.Netns("a")
	del := func() {
		if err := shaper.Delete(shaper.DeleteOptions{Netns: ns}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: ns}) })

	small := benchPolicy(t, ns, "{proto: icmp}", "")
	moved := benchPolicy(t, ns, "{proto: udp, dport: 53}", "")
	big := benchPolicy(t, ns, "{proto: icmp}", bigApp(100_000))
	bigMoved := benchPolicy(t, ns, "{proto: udp, dport: 53}", bigApp(100_000))
	apply := func(p *policy.Policy) (wall, cpu time.Duration) {
		c0, t0 := cpuTime(t), time.Now()
		if err := shaper.Apply(p, shaper.ApplyOptions{}); err != nil {
			t.Fatalf("apply: %v", err)
		}
		return time.Since(t0), cpuTime(t) - c0
	}
	apply(small) // warm-up: the in-process probe, page cache
	var rows []applyRow
	row := func(name, goal string, n int, before func(int), p func(int) *policy.Policy) {
		r := applyRow{name: name, goal: goal}
		for i := range n {
			before(i)
			wall, cpu := apply(p(i))
			r.times, r.cpu = append(r.times, wall), append(r.cpu, cpu)
		}
		rows = append(rows, r)
	}
	same := func(p *policy.Policy) func(int) *policy.Policy { return func(int) *policy.Policy { return p } }
	alt := func(a, b *policy.Policy) func(int) *policy.Policy {
		return func(i int) *policy.Policy {
			if i%2 == 0 {
				return b
			}
			return a
		}
	}
	nothing := func(int) {}
	bigRuns := max(runs/3, 3)

	row("small policy, first apply", "< 100 ms", runs, func(int) { del() }, same(small))
	row("small policy, no-op re-apply", "< 20 ms", runs, nothing, same(small))
	row("small policy, rules-only change", "< 50 ms", runs, nothing, alt(small, moved))
	row("100,000 prefixes, first apply", "< 1 s", bigRuns, func(int) { del() }, same(big))
	row("100,000 prefixes, no-op re-apply", "", bigRuns, nothing, same(big))
	row("100,000 prefixes, rules-only change", "", bigRuns, nothing, alt(big, bigMoved))
	rows = append(rows, cliRows(t, ns, runs)...)
	del()

	// Wall time is what a user waits; on a machine shared with other work
	// it includes waiting for a CPU, which the process's CPU time (user +
	// system, all threads) does not.
	fmt.Printf("%-38s %-9s %5s %11s %11s %11s %11s\n", "case", "goal", "runs", "median", "p90", "max", "cpu median")
	for _, r := range rows {
		s, c := slices.Clone(r.times), slices.Clone(r.cpu)
		slices.Sort(s)
		slices.Sort(c)
		fmt.Printf("%-38s %-9s %5d %11s %11s %11s %11s\n", r.name, r.goal, len(s),
			ms(s[len(s)/2]), ms(s[(len(s)*9+9)/10-1]), ms(s[len(s)-1]), ms(c[len(c)/2]))
	}
}

// cpuTime is the process's user + system time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func benchPolicy(t *testing.T, ns, pingMatch, extraApp string) *policy.Policy {
	t.Helper()
	text := fmt.Sprintf(benchApplyPolicy, ns, pingMatch, extraApp)
	pol, err := policy.Parse(t.Name()+".yaml", []byte(text))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	return pol
}

// bigApp is an app matching n distinct /32 destinations in 198.18.0.0/15.
func bigApp(n int) string {
	var b strings.Builder
	b.WriteString("\n  - {name: many, match: [{dst: [")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "198.%d.%d.%d/32", 18+i>>16, (i>>8)&0xff, i&0xff)
	}
	b.WriteString("]}]}")
	return b.String()
}

// cliRows time the shaper binary itself (a fresh process each time, as a
// user runs it): a no-op re-apply with the TCX probe answered from its
// cache file, and with the cache file removed first (the probe runs).
func cliRows(t *testing.T, ns string, runs int) []applyRow {
	dir := t.TempDir()
	bin := filepath.Join(dir, "shaper")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/shaper").CombinedOutput(); err != nil {
		t.Fatalf("build shaper: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(benchApplyPolicy, ns, "{proto: icmp}", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(r *applyRow) {
		cmd := exec.Command(bin, "apply", file)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("shaper apply: %v\n%s", err, out)
		}
		r.times = append(r.times, time.Since(t0))
		r.cpu = append(r.cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	cached := applyRow{name: "process: no-op, probe cached"}
	fresh := applyRow{name: "process: no-op, probe cache removed"}
	run(&cached) // warm-up
	cached = applyRow{name: cached.name}
	for range runs {
		run(&cached)
		if err := os.Remove(loader.ProbeCacheFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		run(&fresh)
	}
	return []applyRow{cached, fresh}
}
