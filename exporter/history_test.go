package exporter

import (
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

func TestSamplerRecordsAndRates(t *testing.T) {
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
	rates := h.Rates()
	if len(rates) != 2 || rates[0].Kind != history.KindApp || rates[0].Bits != 2000 || rates[1].Bits != 4000 || rates[1].Packets != 0.5 {
		t.Errorf("rates = %+v", rates)
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
