package report

import (
	"time"

	"github.com/shaperdev/shaper/history"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// series makes a key's series of n steps with bytes per step from f.
func series(dir, kind, name string, n int, step time.Duration, f func(i int) uint64) history.Series {
	s := history.Series{Key: history.Key{Netns: "lab", Iface: "eth0", Direction: dir, Kind: kind, Name: name}}
	for i := range n {
		b := f(i)
		s.Points = append(s.Points, history.Point{T: t0.Add(time.Duration(i) * step), Totals: history.Totals{Bytes: b, Packets: b / 1000}})
	}
	return s
}

func constant(b uint64) func(int) uint64 { return func(int) uint64 { return b } }

// fixture: web sends 1 MB/s up and 3 MB/s down for 60 s; mail 0.5 MB/s up
// with a burst of 2 MB in step 10; a class series that app reports ignore.
func fixture() []history.Series {
	return []history.Series{
		series("egress", history.KindApp, "web", 60, time.Second, constant(1_000_000)),
		series("ingress", history.KindApp, "web", 60, time.Second, constant(3_000_000)),
		series("egress", history.KindApp, "mail", 60, time.Second, func(i int) uint64 {
			if i == 10 {
				return 2_000_000
			}
			return 500_000
		}),
		series("egress", history.KindClass, "bulk", 60, time.Second, constant(9_000_000)),
	}
}
