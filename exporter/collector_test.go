package exporter

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shaperdev/shaper/shaper"
)

// fixtureStatus is a status report as the engine makes it: one interface in
// a namespace, an HTB tree up with a nested class, TBF-less monitor down.
func fixtureStatus() *shaper.StatusReport {
	return &shaper.StatusReport{Interfaces: []shaper.IfaceStatus{{
		Netns: "lab", Iface: "eth0",
		Egress: shaper.DirStatus{Mode: "htb", Classes: []shaper.ClassStatus{
			{ID: "1:1", RateBits: 100_000_000, CeilBits: 100_000_000, Stats: shaper.Stats{Bytes: 1<<40 + 1500, Packets: 5_000_000_001}},
			{Name: "web", ID: "1:10", RateBits: 50_000_000, CeilBits: 100_000_000,
				Stats: shaper.Stats{Bytes: 1 << 40, Packets: 5_000_000_000, Drops: 7, Overlimits: 1234, Backlog: 3028, Qlen: 2}, BPFPackets: 1},
			{Name: "other", ID: "1:20", RateBits: 20_000_000, CeilBits: 100_000_000, Stats: shaper.Stats{Bytes: 1500, Packets: 1}},
		}, Apps: []shaper.AppStatus{
			{Name: "web", ID: 1, Bytes: 1 << 40, Packets: 5_000_000_000},
			{Name: shaper.UnmatchedApp, ID: 0, Bytes: 1500, Packets: 1},
		}},
		Ingress: &shaper.DirStatus{Mode: "monitor", Apps: []shaper.AppStatus{{Name: "web", ID: 1, Bytes: 99, Packets: 3}}},
	}}}
}

func fixtureSources() []Source {
	status := SourceFunc(func() (*Reading, error) {
		r := FromStatus(fixtureStatus())
		r.Maps = []MapSample{{Where: Where{"lab", "eth0", "egress"}, Map: "app_stats", Entries: 2, Capacity: 1024}}
		return r, nil
	})
	flows := SourceFunc(func() (*Reading, error) {
		w := Where{Netns: "lab", Iface: "eth0"}
		return &Reading{Flows: []FlowSample{{Where: w, Active: 42}},
			Maps: []MapSample{{Where: w, Map: "flows", Entries: 42, Capacity: 65536}}}, nil
	})
	return []Source{status, flows}
}

// compared are the metrics whose values the fixtures fix (scrape duration
// and build info's Go version vary).
var compared = []string{
	"shaper_class_bytes_total", "shaper_class_packets_total", "shaper_class_drops_total", "shaper_class_overlimits_total",
	"shaper_class_backlog_bytes", "shaper_class_queue_packets", "shaper_class_rate_bytes", "shaper_class_ceil_bytes",
	"shaper_app_bytes_total", "shaper_app_packets_total", "shaper_map_entries", "shaper_map_capacity_entries",
	"shaper_flows_active", "shaper_scrape_success",
}

func TestCollectorFixture(t *testing.T) {
	c := NewCollector("v1.2.3", nil, fixtureSources()...)
	want, err := os.Open("testdata/fixture.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want, compared...); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorLint(t *testing.T) {
	c := NewCollector("v1.2.3", nil, fixtureSources()...)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// A failing source costs its own metrics only: the others are served and
// scrape_success says 0.
func TestCollectorFailingSource(t *testing.T) {
	bad := SourceFunc(func() (*Reading, error) { return nil, errors.New("bpffs gone") })
	c := NewCollector("v1", nil, append(fixtureSources()[1:], bad)...)
	want := `
# HELP shaper_flows_active Flows in an interface's flow table.
# TYPE shaper_flows_active gauge
shaper_flows_active{iface="eth0",netns="lab"} 42
# HELP shaper_scrape_success 1 when every reader succeeded in this scrape, 0 when one failed (see the log).
# TYPE shaper_scrape_success gauge
shaper_scrape_success 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "shaper_flows_active", "shaper_scrape_success"); err != nil {
		t.Fatal(err)
	}
}

// Counters above 2^32 (bytes and packets) come through whole.
func TestCollector64Bit(t *testing.T) {
	c := NewCollector("v1", nil, fixtureSources()...)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shaper_class_packets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v == 5e9 {
				return
			}
		}
	}
	t.Fatal("shaper_class_packets_total 5e9 (above 2^32) not found")
}

func TestBuildInfo(t *testing.T) {
	c := NewCollector("v1.2.3", nil)
	if n := testutil.CollectAndCount(c, "shaper_build_info"); n != 1 {
		t.Fatalf("build_info: %d series, want 1", n)
	}
}

func TestCached(t *testing.T) {
	n := 0
	src := SourceFunc(func() (*Reading, error) {
		n++
		return &Reading{Flows: []FlowSample{{Active: uint64(n)}}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewCached(ctx, src, time.Hour)
	for range 3 {
		r, err := c.Read()
		if err != nil || r.Flows[0].Active != 1 {
			t.Fatalf("read %v %v: want the first reading, served again", r, err)
		}
	}
}

// The unnamed top class is "root", or its id when a class is called root.
func TestClassName(t *testing.T) {
	top := shaper.ClassStatus{ID: "1:1"}
	if got := className(top, []shaper.ClassStatus{top, {Name: "web"}}); got != "root" {
		t.Errorf("got %q, want root", got)
	}
	if got := className(top, []shaper.ClassStatus{top, {Name: "root"}}); got != "1:1" {
		t.Errorf("got %q, want 1:1", got)
	}
}
