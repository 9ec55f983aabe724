package exporter

import (
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

func TestSamplerRecords(t *testing.T) {
	st, err := history.Open(t.TempDir(), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := Where{Iface: "eth0", Direction: "egress"}
	n := uint64(0)
	src := SourceFunc(func() (*Reading, error) {
		n++
		return &Reading{
			Classes: []ClassSample{{Where: w, Class: "bulk", Bytes: n * 1000, Packets: n}},
			Apps:    []AppSample{{Where: w, App: "web", Bytes: n * 500, Packets: n}},
		}, nil
	})
	h := NewSampler(st, src, time.Second, nil)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := h.Sample(t0.Add(time.Duration(i) * 2 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := st.Sum(t0, t0.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	web := history.Key{Iface: "eth0", Direction: "egress", Kind: history.KindApp, Name: "web"}
	if sums[web].Bytes != 1000 || len(sums) != 2 {
		t.Errorf("sums = %v", sums)
	}
}

// serve samples before it applies --policy: the first sample has no
// classes, and by the next one the new classes have counted bytes. Those
// count (the counters began after the first sample). The sampler then
// restarts (a new Sampler on the reopened store) and its first sample is
// at once, off the interval's multiples, in the second the last one was
// taken in; then one before the last (the clock stepped back). The sum is
// what the kernel counted from the first sample to the last.
func TestSamplerCountsClassesAddedAfterFirstSample(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 300e6, time.UTC)
	o := history.Options{Interval: time.Second, Now: func() time.Time { return t0 }} // retention keeps these samples
	st, err := history.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	w := Where{Netns: "lab", Iface: "eth0", Direction: "egress"}
	var web uint64
	applied := false
	src := SourceFunc(func() (*Reading, error) {
		if !applied {
			return &Reading{}, nil
		}
		return &Reading{Classes: []ClassSample{{Where: w, Class: "web", Bytes: web, Packets: web / 1500}}}, nil
	})
	h := NewSampler(st, src, time.Second, nil)
	if err := h.Sample(t0); err != nil {
		t.Fatal(err)
	}
	applied, web = true, 2_830_000 // the policy applied, the flows begun
	for i := 1; i <= 3; i++ {
		if err := h.Sample(t0.Truncate(time.Second).Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		web += 5_000_000
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = history.Open(dir, o); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h = NewSampler(st, src, time.Second, nil)
	last := t0.Truncate(time.Second).Add(3 * time.Second)
	for _, at := range []time.Time{last.Add(700 * time.Millisecond), last.Add(-2 * time.Second), last.Add(time.Second)} {
		if err := h.Sample(at); err != nil {
			t.Fatal(err)
		}
		web += 5_000_000
	}
	web -= 5_000_000 // the last reading
	sums, err := st.Sum(t0.Add(-time.Minute), t0.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindClass, Name: "web"}
	if got := sums[k].Bytes; got != web {
		t.Errorf("web: history %d bytes, the counter %d (%+d)", got, web, int64(got)-int64(web))
	}
}
