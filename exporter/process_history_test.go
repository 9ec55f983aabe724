package exporter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/loader"
)

// flow is a TCP flow from port sport of comm, begun at first (monotonic
// ns), that has sent up and received down bytes in 1000-byte packets.
func flow(sport uint16, comm string, first, up, down uint64) loader.Flow {
	return loader.Flow{Proto: 6, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		SPort: sport, DPort: 443, FirstSeen: first, Comm: comm,
		Bytes: [2]uint64{up, down}, Packets: [2]uint64{up / 1000, down / 1000}}
}

func procTotals(rs []history.Reading) map[string]history.Totals {
	m := map[string]history.Totals{}
	for _, r := range rs {
		if r.Kind != history.KindProcess || r.Netns != "lab" || r.Iface != "eth0" {
			panic("a reading of another key: " + r.Name)
		}
		m[r.Name+" "+r.Direction] = history.Totals{Bytes: r.Bytes, Packets: r.Packets}
	}
	return m
}

func TestProcessCounter(t *testing.T) {
	w := Where{Netns: "lab", Iface: "eth0"}
	var p ProcessCounter
	steps := []struct {
		name  string
		mono  uint64
		flows []loader.Flow
		want  map[string]history.Totals
	}{
		{"first sample: flows already there are a baseline", 100,
			[]loader.Flow{flow(1, "curl", 50, 5000, 9000), flow(2, "", 60, 7000, 0)},
			map[string]history.Totals{}},
		{"known flows count what they grew; one begun since counts all; one without a comm nothing", 200,
			[]loader.Flow{flow(1, "curl", 50, 6000, 19000), flow(2, "", 60, 17000, 0), flow(3, "rsync", 150, 3000, 0)},
			map[string]history.Totals{
				"curl egress":  {Bytes: 1000, Packets: 1},
				"curl ingress": {Bytes: 10000, Packets: 10},
				"rsync egress": {Bytes: 3000, Packets: 3},
			}},
		{"an unknown flow begun before the last sample (read late) is a baseline; totals stay", 300,
			[]loader.Flow{flow(1, "curl", 50, 6000, 19000), flow(3, "rsync", 150, 3000, 0), flow(4, "curl", 120, 8000, 0)},
			map[string]history.Totals{
				"curl egress":  {Bytes: 1000, Packets: 1},
				"curl ingress": {Bytes: 10000, Packets: 10},
				"rsync egress": {Bytes: 3000, Packets: 3},
			}},
		{"an entry replaced (begun again, or lower) counts all it holds", 400,
			[]loader.Flow{flow(1, "wget", 350, 2000, 0), flow(3, "rsync", 150, 1000, 0), flow(4, "curl", 120, 9000, 0)},
			map[string]history.Totals{
				"curl egress":  {Bytes: 2000, Packets: 2},
				"curl ingress": {Bytes: 10000, Packets: 10},
				"rsync egress": {Bytes: 4000, Packets: 4},
				"wget egress":  {Bytes: 2000, Packets: 2},
			}},
		{"flows gone are forgotten; one back under the same key later is new", 500,
			[]loader.Flow{flow(3, "rsync", 450, 500, 0)},
			map[string]history.Totals{
				"curl egress":  {Bytes: 2000, Packets: 2},
				"curl ingress": {Bytes: 10000, Packets: 10},
				"rsync egress": {Bytes: 4500, Packets: 4},
				"wget egress":  {Bytes: 2000, Packets: 2},
			}},
	}
	prev := map[string]history.Totals{}
	for _, s := range steps {
		got := procTotals(p.Add(s.mono, []FlowTable{{Where: w, Flows: s.flows}}))
		if len(got) != len(s.want) {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
		for k, v := range s.want {
			if got[k] != v {
				t.Errorf("%s: %s = %+v, want %+v", s.name, k, got[k], v)
			}
		}
		for k, v := range prev {
			if got[k].Bytes < v.Bytes || got[k].Packets < v.Packets {
				t.Errorf("%s: %s went down from %+v to %+v", s.name, k, v, got[k])
			}
		}
		prev = got
	}
}

// A serve restart: the new sampler's process counters start from zero
// again, below or above the last readings the store holds. Its first
// sample zeroes the store's process keys, so that the history counts
// exactly the bytes the flows grew by after it.
func TestSamplerProcessesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := history.Options{Interval: time.Second, Now: func() time.Time { return t0 }}
	w := Where{Netns: "lab", Iface: "eth0"}
	var flows []loader.Flow
	tables := func() ([]FlowTable, error) { return []FlowTable{{Where: w, Flows: flows}}, nil }
	empty := SourceFunc(func() (*Reading, error) { return &Reading{}, nil })
	sample := func(h *Sampler, i int) {
		t.Helper()
		if err := h.Sample(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}

	st, err := history.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	h := NewSampler(st, empty, time.Second, nil)
	h.Flows = tables
	sample(h, 0) // baseline
	// curl begins after the first sample: 1 MB counts.
	flows = []loader.Flow{flow(1, "curl", loader.MonotonicNow(), 1_000_000, 0)}
	sample(h, 1)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart: the flow grows by 5 MB before the new serve's first
	// sample (not counted: when is unknown), then 3 MB.
	if st, err = history.Open(dir, o); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h = NewSampler(st, empty, time.Second, nil)
	h.Flows = tables
	flows[0].Bytes[0], flows[0].Packets[0] = 6_000_000, 6000
	sample(h, 2)
	flows[0].Bytes[0], flows[0].Packets[0] = 9_000_000, 9000
	sample(h, 3) // curl's counter is now 3 MB, above the 1 MB the store last read
	sums, err := st.Sum(t0.Add(-time.Minute), t0.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindProcess, Name: "curl"}
	if got := sums[k].Bytes; got != 4_000_000 {
		t.Errorf("curl: history %d bytes, want 4000000 (1 MB before the restart, 3 MB after)", got)
	}
}
