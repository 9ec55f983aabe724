// Package history is shaper's own embedded store of counter history: serve
// samples the app and class counters (and per-process ones it makes from
// the flow tables) every --interval and records them here; `shaper
// report`, quotas and the page read them back. It is pure Go on plain
// files under one directory (no service, no cgo) and imports nothing of
// the kernel side: the sampler that feeds it lives in exporter.
//
// THIS FILE IS THE CONTRACT the history, report, quota and page work share.
// Keep the exported names and meanings; add, do not rename.
package history

import (
	"sync"
	"time"
)

// Kind says what a series counts.
const (
	KindApp   = "app"
	KindClass = "class"
	// KindProcess counts the flows of one process (Name is its comm):
	// only flows whose socket owner is known, so a lower bound.
	KindProcess = "process"
)

// Key names one counter series.
type Key struct {
	Netns     string `json:"netns"`     // "" for the root namespace
	Iface     string `json:"iface"`     //
	Direction string `json:"direction"` // "egress" (upload) or "ingress" (download)
	Kind      string `json:"kind"`      // KindApp, KindClass or KindProcess
	Name      string `json:"name"`      // the app's or class's name ("root" for a TBF), the process's comm
}

// Reading is one cumulative counter reading, as the kernel holds it. The
// store turns readings into deltas: a reading lower than the last one of
// its key is a reset (reboot, re-created maps, a new policy) and its whole
// value is the delta, so totals never go backwards and nothing is counted
// twice. A key first seen after the store's first sample counts its whole
// reading (its counter began since the last sample); the first sample
// counts nothing. The last readings persist, so a restart of serve
// continues, after a kill -9 too.
type Reading struct {
	Key
	Bytes   uint64
	Packets uint64
}

// Totals are bytes and packets counted in an interval.
type Totals struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

// Point is what one key counted in [T, T+step).
type Point struct {
	T time.Time
	Totals
}

// Series is one key's points, in time order, one per step of the query
// (steps with nothing counted are present with zero totals).
type Series struct {
	Key
	Points []Point
}

// Query selects keys and an interval. Match nil selects every key. Step 0
// lets the store choose the finest resolution it holds for the interval
// (raw samples, 5 min or 1 h roll-ups); Points then use that step.
type Query struct {
	From, To time.Time
	Step     time.Duration
	Match    func(Key) bool
}

// Options of Open; zero values take the defaults.
type Options struct {
	Interval     time.Duration // the sampling interval (10s)
	RawRetention time.Duration // raw samples kept this long (48h)
	Retention    time.Duration // roll-ups kept this long (400 days)
	MaxSize      int64         // bytes on disk at most; the oldest go first (1 GiB)
	// FineRetention is how long the 5 min roll-ups are kept (35 days,
	// at most Retention); beyond it 1 h roll-ups answer.
	FineRetention time.Duration
	// Now is the clock retention and Resolution use (time.Now); tests set it.
	Now func() time.Time
}

// Store is the history under one directory. Open gives the one writer
// (serve); OpenReadOnly gives readers in other processes (report), which
// see what the writer has flushed and never write.
type Store struct {
	dir string
	o   Options
	ro  bool
	mu  sync.Mutex
	kt  *keyTable
	st  *state
	w   *writer // nil when read-only
}
