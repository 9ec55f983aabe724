package exporter

import (
	"context"
	"log/slog"
	"time"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/loader"
)

// Sampler records the app and class counters into the history every
// interval, with the per-process counters of the flow tables when Flows is
// set. (The page's live rates are its own: they work without history.)
type Sampler struct {
	Store    *history.Store
	Source   Source
	Interval time.Duration
	Log      *slog.Logger
	// Flows reads the flow tables for the per-process counters (nil:
	// none are recorded), e.g. ReadFlowTables of the serve's namespace.
	Flows func() ([]FlowTable, error)

	procs   ProcessCounter
	procsOn bool // a Record took process readings: the store's keys are zeroed
}

// NewSampler makes a sampler of src into store every interval.
func NewSampler(store *history.Store, src Source, interval time.Duration, log *slog.Logger) *Sampler {
	return &Sampler{Store: store, Source: src, Interval: interval, Log: log}
}

// Run samples at once and then at every multiple of Interval since the
// epoch until ctx is done: samples on the grid make their buckets even (a
// 1 s step has one sample each, not two or none as a drifting ticker
// would give). A failed reading is logged and the next one tries again.
func (h *Sampler) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if err := h.Sample(now); err != nil && h.Log != nil {
			h.Log.Warn("history: sample failed", "err", err)
		}
		timer.Reset(time.Until(now.Truncate(h.Interval).Add(h.Interval)))
	}
}

// Sample reads the source once and records it as taken at t.
func (h *Sampler) Sample(t time.Time) error {
	r, err := h.Source.Read()
	if r == nil {
		return err
	}
	// A partial reading (a map's capacity unreadable) still has counters.
	rs := Readings(r)
	if h.Flows != nil {
		rs = append(rs, h.processReadings()...)
	}
	if err := h.Store.Record(t, rs); err != nil {
		return err
	}
	h.procsOn = h.Flows != nil
	return nil
}

// processReadings reads the flow tables and returns the per-process
// totals. The time is taken before the read: a flow begun during it is
// new. A failed read counts nothing this time and keeps the flows of the
// last one, so that the next read counts what they grew meanwhile. Until
// a Record has taken them, the readings also zero every process key of
// the store: this serve's counters start from zero, and a first reading
// at or above the last one an earlier serve left would not be seen as a
// reset.
func (h *Sampler) processReadings() []history.Reading {
	mono := loader.MonotonicNow()
	tables, err := h.Flows()
	var rs []history.Reading
	if err != nil {
		if h.Log != nil {
			h.Log.Warn("history: read the flow tables", "err", err)
		}
		rs = h.procs.Readings()
	} else {
		rs = h.procs.Add(mono, tables)
	}
	if !h.procsOn {
		have := make(map[history.Key]bool, len(rs))
		for _, r := range rs {
			have[r.Key] = true
		}
		for _, k := range h.Store.Keys(func(k history.Key) bool { return k.Kind == history.KindProcess && !have[k] }) {
			rs = append(rs, history.Reading{Key: k})
		}
	}
	return rs
}

// Readings turns an exporter reading into history readings: every class
// and every app of every hook.
func Readings(r *Reading) []history.Reading {
	out := make([]history.Reading, 0, len(r.Classes)+len(r.Apps))
	for _, c := range r.Classes {
		out = append(out, history.Reading{Key: key(c.Where, history.KindClass, c.Class), Bytes: c.Bytes, Packets: c.Packets})
	}
	for _, a := range r.Apps {
		out = append(out, history.Reading{Key: key(a.Where, history.KindApp, a.App), Bytes: a.Bytes, Packets: a.Packets})
	}
	return out
}

func key(w Where, kind, name string) history.Key {
	return history.Key{Netns: w.Netns, Iface: w.Iface, Direction: w.Direction, Kind: kind, Name: name}
}
