// storebench measures the Prometheus TSDB + PromQL and modernc SQLite with
// our roll-ups on the load of exporter's TestBenchHistory (420 series of
// 10 s samples); its own module. See docs/history.md, "Why our own store".
//
//	storebench -store tsdb|sqlite -days N -dir DIR [-query]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

const apps, classes, step, day = 100, 5, 10 * time.Second, 24 * time.Hour

// end is fixed so that runs repeat and the 30-day window is hour-aligned.
var end = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

type series struct {
	kind, name, iface, dir           string // kind "app" or "class"
	bytes, packets, dBytes, dPackets uint64 // cumulative; since the previous sample
}

func allSeries() []series {
	var rs []series
	for _, ifc := range []string{"eth0", "eth1"} {
		for _, d := range []string{"egress", "ingress"} {
			for i := range apps {
				rs = append(rs, series{kind: "app", name: fmt.Sprintf("app%d", i), iface: ifc, dir: d})
			}
			for i := range classes {
				rs = append(rs, series{kind: "class", name: fmt.Sprintf("c%d", i), iface: ifc, dir: d})
			}
		}
	}
	return rs
}

// generate calls fn for every 10 s sample over [end-days, end), with the
// generator of exporter/history_bench_test.go's fillHistory.
func generate(days int, fn func(at time.Time, rs []series) error) error {
	rs, rng := allSeries(), rand.New(rand.NewPCG(1, 1))
	for at := end.Add(-time.Duration(days) * day); at.Before(end); at = at.Add(step) {
		for i := range rs {
			rs[i].dBytes, rs[i].dPackets = 0, 0
			if rs[i].kind == "class" || rng.IntN(2) == 0 {
				b := uint64(rng.IntN(1 << 20))
				rs[i].dBytes, rs[i].dPackets = b, b/1400+1
				rs[i].bytes, rs[i].packets = rs[i].bytes+b, rs[i].packets+b/1400+1
			}
		}
		if err := fn(at, rs); err != nil {
			return err
		}
	}
	return nil
}

type query struct {
	name string
	run  func() (int, error) // result rows
}

// A store's first query is `shaper report` for the window in its own process.
type store struct {
	ingest  func(dir string, days int) error
	queries func(dir string, days int) ([]query, func() error)
}

func main() {
	kind := flag.String("store", "tsdb", "tsdb or sqlite")
	days := flag.Int("days", 30, "days of samples")
	dir := flag.String("dir", "", "store directory (created)")
	onlyQuery := flag.Bool("query", false, "only query the store in -dir")
	runs := flag.Int("runs", 5, "runs of each query (median, min, max)")
	flag.Parse()
	s, ok := map[string]store{"tsdb": {tsdbIngest, tsdbQueries}, "sqlite": {sqliteIngest, sqliteQueries}}[*kind]
	if !ok || *dir == "" {
		fail(fmt.Errorf("need -store tsdb|sqlite and -dir"))
	}
	fmt.Printf("store %s, %d days of 10 s samples, %d series x (bytes, packets), GOMAXPROCS=%d, rss at start %s\n",
		*kind, *days, len(allSeries()), runtime.GOMAXPROCS(0), status("VmRSS"))
	if !*onlyQuery {
		t0 := time.Now()
		if err := errors.Join(os.MkdirAll(*dir, 0o755), s.ingest(*dir, *days)); err != nil {
			fail(err)
		}
		took := time.Since(t0)
		fmt.Printf("%-40s %s (%.1f µs a sample of %d series), peak RSS (VmHWM) %s\n", "ingest", took.Round(time.Millisecond),
			float64(took.Microseconds())/float64(*days*24*360), len(allSeries()), status("VmHWM"))
		fmt.Printf("%-40s %s\n", "on disk", dirSize(*dir))
		return
	}
	qs, closeFn := s.queries(*dir, *days)
	for _, q := range qs {
		var ts []time.Duration
		rows := 0
		for range *runs {
			t0 := time.Now()
			n, err := q.run()
			if err != nil {
				fail(fmt.Errorf("%s: %w", q.name, err))
			}
			ts, rows = append(ts, time.Since(t0)), n
		}
		slices.Sort(ts)
		fmt.Printf("%-40s median %s, min %s, max %s (%d rows), warm\n", q.name,
			ms(ts[len(ts)/2]), ms(ts[0]), ms(ts[len(ts)-1]), rows)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("memory after queries (RssAnon %s, RssFile %s)\n", status("RssAnon"), status("RssFile"))
	fmt.Printf("  VmHWM %s, VmRSS %s, Go heap in use %.1f MiB, heap sys %.1f MiB, total alloc %.0f MiB\n",
		status("VmHWM"), status("VmRSS"), mib(int64(m.HeapInuse)), mib(int64(m.HeapSys)), mib(int64(m.TotalAlloc)))
	closeFn()
}

func status(field string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

// dirSize sums file sizes under dir, and per first-level entry (TSDB blocks together).
func dirSize(dir string) string {
	var total int64
	per := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, _ := d.Info()
		top, _, _ := strings.Cut(strings.TrimPrefix(p, dir+"/"), "/")
		if len(top) == 26 { // a block's ULID
			top = "blocks"
		}
		total += info.Size()
		per[top] += info.Size()
		return nil
	})
	var parts []string
	for k, n := range per {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, mib(n)))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%.1f MiB (%s)", mib(total), strings.Join(parts, ", "))
}

func mib(n int64) float64       { return float64(n) / (1 << 20) }
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func fail(err error)            { fmt.Fprintln(os.Stderr, "storebench:", err); os.Exit(1) }
