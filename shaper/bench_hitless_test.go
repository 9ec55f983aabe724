package shaper_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// TestBenchHitless times hitless changes (make bench): re-applies that
// move an app between two classes (a map write and a generation flip, no
// program load, no qdisc or class touched) and that change a class's rate
// (`tc class change`), each timed around shaper.Apply as the CLI calls it.
func TestBenchHitless(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench)")
	}
	lab := labtest.Lab(t, pairTopo)
	applyPolicy(t, lab, movePolicyIn("a", "10mbit"))
	const runs = 20
	var move, rate []time.Duration
	for i := range runs {
		class := "b"
		if i%2 == 1 {
			class = "a"
		}
		move = append(move, reapply(t, lab, movePolicyIn(class, "10mbit")))
	}
	for i := range runs {
		r := "15mbit"
		if i%2 == 1 {
			r = "10mbit"
		}
		rate = append(rate, reapply(t, lab, movePolicyIn("a", r)))
	}
	fmt.Printf("%-40s %8s %8s %8s\n", "hitless change (shaper.Apply)", "min", "median", "max")
	for _, row := range []struct {
		what string
		ds   []time.Duration
	}{{"move an app to another class", move}, {"change a class's rate (tc class change)", rate}} {
		slices.Sort(row.ds)
		fmt.Printf("%-40s %8s %8s %8s\n", row.what, row.ds[0].Round(100*time.Microsecond),
			row.ds[len(row.ds)/2].Round(100*time.Microsecond), row.ds[len(row.ds)-1].Round(100*time.Microsecond))
	}
	fmt.Printf("(%d runs each; one interface, 3 classes, 1 app)\n", runs)
}
