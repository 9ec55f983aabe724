// Package exporter is `shaper serve`: a prometheus.Collector that reads the
// classifier's pinned BPF maps and the kernel's tc statistics at scrape
// time, the HTTP server around it, and the policy reload loop.
//
// The collector reads through Source, a small interface, so that tests feed
// it fixtures and other readers (the flow table) plug in beside the status
// reader without the collector knowing where numbers come from.
package exporter

// Source gives one reading of the shaping state. A collector asks each of
// its sources at every scrape and emits what they return; a source that has
// nothing to say (no flow table yet) returns an empty Reading.
type Source interface {
	Read() (*Reading, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func() (*Reading, error)

// Read calls f.
func (f SourceFunc) Read() (*Reading, error) { return f() }

// Where names one hook: the labels every shaping metric carries.
type Where struct {
	Netns     string // "" for the root namespace
	Iface     string
	Direction string // "egress" (upload) or "ingress" (download)
}

// ClassSample is one class (or a TBF root, named "root"): the kernel's
// counters and queue, and what the policy configured.
type ClassSample struct {
	Where
	Class      string
	Bytes      uint64
	Packets    uint64
	Drops      uint64
	Overlimits uint64
	Backlog    uint64 // bytes queued now
	Qlen       uint64 // packets queued now
	RateBytes  uint64 // configured rate, bytes per second
	CeilBytes  uint64 // configured ceil, bytes per second (0: none, as TBF)
}

// AppSample is one app's counters on one hook, as the classifier counted.
type AppSample struct {
	Where
	App     string
	Bytes   uint64
	Packets uint64
}

// MapSample is how full one BPF map is.
type MapSample struct {
	Where
	Map      string
	Entries  uint64
	Capacity uint64
}

// FlowSample is the number of flows an interface's flow table holds.
// Direction is empty: the table is shared by the hooks of the interface.
type FlowSample struct {
	Where
	Active    uint64
	Misses    uint64 // table misses since the table was made
	Evictions uint64 // misses of established TCP flows: entries the LRU evicted
}

// Reading is what sources return; the collector emits all of it.
type Reading struct {
	Classes []ClassSample
	Apps    []AppSample
	Maps    []MapSample
	Flows   []FlowSample
}

// merge appends o to r.
func (r *Reading) merge(o *Reading) {
	if o == nil {
		return
	}
	r.Classes = append(r.Classes, o.Classes...)
	r.Apps = append(r.Apps, o.Apps...)
	r.Maps = append(r.Maps, o.Maps...)
	r.Flows = append(r.Flows, o.Flows...)
}
