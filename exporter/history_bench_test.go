package exporter_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// The history bench: 30 days of 10 s samples of 100 apps on 2 interfaces,
// both directions, and 5 classes per hook, as serve would record them.
const (
	histDays    = 30
	histApps    = 100
	histClasses = 5
	histServe   = 20 * time.Second
)

// TestBenchHistory measures the history store: the time to write 30 days
// of samples, its size on disk, the time to sum and query them as
// `shaper report` does (a read-only store, as another process opens it),
// and serve's memory while sampling into that store. make bench runs it.
func TestBenchHistory(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") == "" {
		t.Skip("benchmark: make bench (SHAPER_BENCH=1) runs it")
	}
	stateDir := t.TempDir()
	dir := filepath.Join(stateDir, "history")
	end := time.Now().Truncate(10 * time.Second)
	keys, took := fillHistory(t, dir, end.Add(-histDays*24*time.Hour), end)
	n := histDays * 24 * 360
	fmt.Printf("history: %d days of 10 s samples, %d series (%d apps x 2 ifaces x 2 directions + %d classes per hook)\n",
		histDays, keys, histApps, histClasses)
	fmt.Printf("%-34s %s (%.0f µs per sample of %d series)\n", "write", took.Round(time.Millisecond),
		float64(took.Microseconds())/float64(n), keys)
	total, tiers := dirSizes(t, dir)
	fmt.Printf("%-34s %.1f MiB (raw %.1f, 5m %.1f, 1h %.1f, keys+state %.2f MiB)\n", "size on disk", mib(total),
		mib(tiers["raw"]), mib(tiers["5m"]), mib(tiers["1h"]), mib(total-tiers["raw"]-tiers["5m"]-tiers["1h"]))

	r, err := history.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, histDays * 24 * time.Hour} {
		from := end.Add(-d)
		best := timeIt(t, func() error { _, err := r.Sum(from, end, nil); return err })
		fmt.Printf("%-34s %s\n", fmt.Sprintf("Sum, %s, all series", days(d)), ms(best))
	}
	for _, d := range []time.Duration{6 * time.Hour, 7 * 24 * time.Hour, histDays * 24 * time.Hour} {
		from := end.Add(-d)
		best := timeIt(t, func() error { _, err := r.Query(history.Query{From: from, To: end}); return err })
		fmt.Printf("%-34s %s  (step %v)\n", fmt.Sprintf("Query, %s, step 0, all series", days(d)), ms(best), r.Resolution(from, end))
	}
	from := end.Add(-histDays * 24 * time.Hour)
	report := func() error {
		rr, err := history.OpenReadOnly(dir)
		if err != nil {
			return err
		}
		apps := func(k history.Key) bool { return k.Kind == history.KindApp }
		if _, err := rr.Sum(from, end, apps); err != nil {
			return err
		}
		_, err = rr.Query(history.Query{From: from, To: end, Match: apps})
		return err
	}
	warm := timeIt(t, report)
	cold := timeIt(t, func() error { dropCache(t, dir); return report() })
	fmt.Printf("%-34s %s warm, %s cold  (goal < 1s)\n", "report, 30 days: open+Sum+Query", ms(warm), ms(cold))
	if cold > time.Second {
		t.Errorf("a 30-day report took %s, over the 1 s goal", cold)
	}
	benchServeMemory(t, stateDir)
}

// fillHistory records synthetic counters every 10 s over [from, to): each
// app sends in about half of the samples, classes always.
func fillHistory(t *testing.T, dir string, from, to time.Time) (int, time.Duration) {
	t.Helper()
	var rs []history.Reading
	for _, ifc := range []string{"eth0", "eth1"} {
		for _, dir := range []string{"egress", "ingress"} {
			for i := range histApps {
				rs = append(rs, history.Reading{Key: history.Key{Iface: ifc, Direction: dir, Kind: history.KindApp, Name: fmt.Sprintf("app%d", i)}})
			}
			for i := range histClasses {
				rs = append(rs, history.Reading{Key: history.Key{Iface: ifc, Direction: dir, Kind: history.KindClass, Name: fmt.Sprintf("c%d", i)}})
			}
		}
	}
	s, err := history.Open(dir, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	t0 := time.Now()
	for at := from; at.Before(to); at = at.Add(10 * time.Second) {
		for i := range rs {
			if rs[i].Kind == history.KindClass || rng.IntN(2) == 0 {
				b := uint64(rng.IntN(1 << 20)) // up to ~800 kbit/s
				rs[i].Bytes += b
				rs[i].Packets += b/1400 + 1
			}
		}
		if err := s.Record(at, rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return len(rs), time.Since(t0)
}

func dirSizes(t *testing.T, dir string) (int64, map[string]int64) {
	t.Helper()
	var total int64
	per := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		per[filepath.Base(filepath.Dir(p))] += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, per
}

// timeIt runs fn 5 times and returns the median time.
func timeIt(t *testing.T, fn func() error) time.Duration {
	t.Helper()
	var d []time.Duration
	for range 5 {
		s := time.Now()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		d = append(d, time.Since(s))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// dropCache evicts the store's files from the page cache (and nothing
// else: the machine is shared), so that a read comes from the disk.
func dropCache(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func days(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%.0f h", d.Hours())
	}
	if d == 24*time.Hour {
		return "1 day"
	}
	return fmt.Sprintf("%.0f days", d.Hours()/24)
}

// benchServeMemory runs the real shaper serve on the filled store, with a
// policy of 100 apps in a lab namespace, sampling every second, and
// without history for comparison.
func benchServeMemory(t *testing.T, stateDir string) {
	bin, _, ns, _ := shapedLab(t, "")
	pol, err := policy.Parse("bench.yaml", []byte(benchPolicy(histApps+1, histApps)))
	if err != nil {
		t.Fatal(err)
	}
	if err := shaper.Apply(pol, shaper.ApplyOptions{Netns: ns}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		fillCounters(t, filepath.Join(loader.PinDir(ns, "eth0", dir), bpf.ClassifierMapAppStats), histApps)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"serve RSS, history on the store", []string{"--state-dir", stateDir, "--interval", "1s"}},
		{"serve RSS, --no-history", []string{"--no-history"}},
	} {
		port := freePort(t)
		argv := append([]string{bin, "serve", "--netns", ns, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, c.args...)
		p := start(t, "shaper serve", 5*time.Minute, argv...)
		url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		waitFor(t, 30*time.Second, "shaper serve answering", func() bool { _, _, err := httpGet(url); return err == nil })
		time.Sleep(histServe)
		rss, hwm := procMem(t, p.cmd.Process.Pid)
		p.kill()
		fmt.Printf("%-34s %.1f MiB (peak %.1f MiB) after %v, 1 s interval, %d apps\n", c.name, rss, hwm, histServe, histApps)
	}
	r, err := history.OpenReadOnly(filepath.Join(stateDir, "history"))
	if err != nil {
		t.Fatal(err)
	}
	if _, last, ok := r.Span(); !ok || time.Since(last) > time.Minute {
		t.Errorf("serve did not record: last sample %v", last)
	}
}
