package exporter

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Live rates for the page come from two readings of the sources and the
// time between them. They are taken when the page asks, not by a loop of
// their own: nothing is read while nobody looks, and a serve without
// history still shows rates.
const (
	// rateMinGap: requests closer than this to the last reading share it,
	// so many open pages cost one reading per second.
	rateMinGap = time.Second
	// rateMaxAge: a last reading older than this is too old to rate
	// against (an average over minutes is not "live"); two fresh readings
	// rateFirstGap apart are taken instead.
	rateMaxAge   = 10 * time.Second
	rateFirstGap = time.Second
)

// PageRates is /api/rates: bits per second averaged over Seconds.
type PageRates struct {
	Host    string      `json:"host"`
	Version string      `json:"version"`
	Netns   string      `json:"netns"`
	Time    time.Time   `json:"time"`
	Seconds float64     `json:"seconds"`
	Apps    []AppRate   `json:"apps"`
	Classes []ClassRate `json:"classes"`
	Errors  []string    `json:"errors,omitempty"`
}

// AppRate is one app on one interface: upload is egress, download ingress.
type AppRate struct {
	Netns    string  `json:"netns"`
	Iface    string  `json:"iface"`
	Name     string  `json:"name"`
	UpBits   float64 `json:"up_bits"`
	DownBits float64 `json:"down_bits"`
}

// ClassRate is one class and what the policy configured for it.
type ClassRate struct {
	Netns     string  `json:"netns"`
	Iface     string  `json:"iface"`
	Direction string  `json:"direction"`
	Name      string  `json:"name"`
	Bits      float64 `json:"bits"`
	RateBits  float64 `json:"rate_bits"`
	CeilBits  float64 `json:"ceil_bits"`
}

type snapshot struct {
	t    time.Time
	r    *Reading
	errs []string
}

type rateTracker struct {
	sources   []Source
	now       func() time.Time
	firstGap  time.Duration
	mu        sync.Mutex
	prev, cur snapshot
}

func newRateTracker(sources []Source) *rateTracker {
	return &rateTracker{sources: sources, now: time.Now, firstGap: rateFirstGap}
}

// rates reads the sources if the last reading is a second old or more and
// rates the last two readings.
func (rt *rateTracker) rates(ctx context.Context) PageRates {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	age := rt.now().Sub(rt.cur.t)
	switch {
	case rt.cur.r == nil || age > rateMaxAge:
		rt.prev = rt.read()
		select {
		case <-ctx.Done(): // gone: two readings a moment apart would rate noise
			rt.cur = snapshot{}
			return rateBetween(snapshot{}, snapshot{})
		case <-time.After(rt.firstGap):
		}
		rt.cur = rt.read()
	case age >= rateMinGap:
		rt.prev, rt.cur = rt.cur, rt.read()
	}
	return rateBetween(rt.prev, rt.cur)
}

// read merges what every source says; a failing source is noted, the
// others still count.
func (rt *rateTracker) read() snapshot {
	s := snapshot{r: &Reading{}}
	for _, src := range rt.sources {
		r, err := src.Read()
		s.r.merge(r)
		if err != nil {
			s.errs = append(s.errs, err.Error())
		}
	}
	s.t = rt.now()
	return s
}

// rateBetween is the pure part: per-second rates of every app and class
// between two readings. A counter lower than before was reset (a new
// policy, re-created maps) and all of it counts, as history counts it; a
// counter new in b counts from zero.
func rateBetween(a, b snapshot) PageRates {
	res := PageRates{Time: b.t, Seconds: b.t.Sub(a.t).Seconds(), Apps: []AppRate{}, Classes: []ClassRate{}, Errors: b.errs}
	if b.r == nil || res.Seconds <= 0 {
		return res
	}
	perSec := func(before, now uint64) float64 {
		d := now
		if now >= before {
			d = now - before
		}
		return math.Round(float64(d) * 8 / res.Seconds)
	}
	type appKey struct {
		Where
		App string
	}
	prevApps := map[appKey]uint64{}
	type classKey struct {
		Where
		Class string
	}
	prevClasses := map[classKey]uint64{}
	if a.r != nil {
		for _, s := range a.r.Apps {
			prevApps[appKey{s.Where, s.App}] = s.Bytes
		}
		for _, s := range a.r.Classes {
			prevClasses[classKey{s.Where, s.Class}] = s.Bytes
		}
	}
	type rowKey struct{ netns, iface, name string }
	apps := map[rowKey]*AppRate{}
	for _, s := range b.r.Apps {
		k := rowKey{s.Netns, s.Iface, s.App}
		row := apps[k]
		if row == nil {
			row = &AppRate{Netns: s.Netns, Iface: s.Iface, Name: s.App}
			apps[k] = row
		}
		bits := perSec(prevApps[appKey{s.Where, s.App}], s.Bytes)
		if s.Direction == "ingress" {
			row.DownBits += bits
		} else {
			row.UpBits += bits
		}
	}
	for _, row := range apps {
		res.Apps = append(res.Apps, *row)
	}
	for _, s := range b.r.Classes {
		res.Classes = append(res.Classes, ClassRate{Netns: s.Netns, Iface: s.Iface, Direction: s.Direction, Name: s.Class,
			Bits:     perSec(prevClasses[classKey{s.Where, s.Class}], s.Bytes),
			RateBits: float64(s.RateBytes) * 8, CeilBits: float64(s.CeilBytes) * 8})
	}
	// A stable order: rows do not jump between polls.
	slices.SortFunc(res.Apps, func(x, y AppRate) int {
		return cmp.Or(cmp.Compare(x.Netns, y.Netns), cmp.Compare(x.Iface, y.Iface), cmp.Compare(x.Name, y.Name))
	})
	slices.SortFunc(res.Classes, func(x, y ClassRate) int {
		return cmp.Or(cmp.Compare(x.Netns, y.Netns), cmp.Compare(x.Iface, y.Iface),
			cmp.Compare(x.Direction, y.Direction), cmp.Compare(x.Name, y.Name))
	})
	return res
}
