// Package history is shaper's own embedded store of counter history: serve
// samples the app and class counters every --interval and records them here;
// `shaper report`, quotas and the page read them back. It is pure Go on
// plain files under one directory (no service, no cgo) and imports nothing
// of the kernel side: the sampler that feeds it lives in exporter.
//
// THIS FILE IS THE CONTRACT the history, report, quota and page work share.
// Keep the exported names and meanings; add, do not rename.
package history

import (
	"errors"
	"time"
)

// Kind says what a series counts.
const (
	KindApp   = "app"
	KindClass = "class"
)

// Key names one counter series.
type Key struct {
	Netns     string `json:"netns"`     // "" for the root namespace
	Iface     string `json:"iface"`     //
	Direction string `json:"direction"` // "egress" (upload) or "ingress" (download)
	Kind      string `json:"kind"`      // KindApp or KindClass
	Name      string `json:"name"`      // the app's or class's name ("root" for a TBF)
}

// Reading is one cumulative counter reading, as the kernel holds it. The
// store turns readings into deltas: a reading lower than the last one of
// its key is a reset (reboot, re-created maps, a new policy) and its whole
// value is the delta, so totals never go backwards and nothing is counted
// twice. The last readings persist, so a restart of serve continues.
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
}

// Store is the history under one directory.
type Store struct {
	dir string
	o   Options
}

var errNotYet = errors.New("history: not implemented yet")

// Open opens (creating it if needed) the store in dir.
func Open(dir string, o Options) (*Store, error) { return nil, errNotYet }

// Close flushes and closes the store.
func (s *Store) Close() error { return errNotYet }

// Record stores the readings taken at t.
func (s *Store) Record(t time.Time, rs []Reading) error { return errNotYet }

// Query returns the series of the keys q selects, bucketed by step.
func (s *Store) Query(q Query) ([]Series, error) { return nil, errNotYet }

// Sum returns what each selected key counted in [from, to).
func (s *Store) Sum(from, to time.Time, match func(Key) bool) (map[Key]Totals, error) {
	return nil, errNotYet
}

// Resolution is the step Query uses for an interval when q.Step is 0.
func (s *Store) Resolution(from, to time.Time) time.Duration { return 0 }

// Span is the time of the first and the last sample held; ok is false when
// the store is empty.
func (s *Store) Span() (first, last time.Time, ok bool) { return }
