package report

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

// benchSeries is what the store answers for a week at 5 min (the finest
// step it keeps that long): 100 apps on 2 interfaces, both directions.
func benchSeries() []history.Series {
	var out []history.Series
	for _, iface := range []string{"eth0", "wlan0"} {
		for _, dir := range []string{"egress", "ingress"} {
			for a := range 100 {
				s := series(dir, history.KindApp, fmt.Sprintf("app%03d", a), 7*288, 5*time.Minute, func(i int) uint64 { return uint64(1000 * (a + i%7)) })
				s.Iface = iface
				out = append(out, s)
			}
		}
	}
	return out
}

// BenchmarkReport is a week's report of 100 apps on 2 interfaces, from the
// store's answer to the written table and PNG chart.
func BenchmarkReport(b *testing.B) {
	ss := benchSeries()
	o := Options{By: ByApp, Direction: Both, Netns: "lab"}
	for _, format := range []string{"table", "json", "png"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				r := Build(ss, o, t0, t0.Add(7*24*time.Hour), 5*time.Minute)
				if err := Write(io.Discard, r, format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
