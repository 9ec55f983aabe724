package exporter

import (
	"fmt"
	"path/filepath"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

// FlowSource counts the entries of each managed interface's pinned flow
// table in batches: shaper_flows_active, and the table's fill as a map.
// Interfaces without a flow table (a classifier from before the table)
// give nothing. A richer flow reader (only flows seen recently) can
// replace it: the collector takes any Source.
type FlowSource struct {
	Netns string
}

// Read counts every managed interface's flow table in the namespace.
func (s FlowSource) Read() (*Reading, error) {
	states, err := shaper.ListStates(s.Netns)
	if err != nil {
		return nil, fmt.Errorf("list managed interfaces: %w", err)
	}
	r := &Reading{}
	for _, st := range states {
		dir := loader.SharedDir(st.Netns, st.Iface)
		u, ok, err := loader.PinnedMapUsage(filepath.Join(dir, bpf.ClassifierMapFlows))
		if err != nil {
			return r, err
		}
		if !ok {
			continue
		}
		misses, evicted, err := loader.ReadFlowMisses(dir)
		if err != nil {
			return r, err
		}
		w := Where{Netns: st.Netns, Iface: st.Iface}
		r.Flows = append(r.Flows, FlowSample{Where: w, Active: u.Entries, Misses: misses, Evictions: evicted})
		r.Maps = append(r.Maps, MapSample{Where: w, Map: bpf.ClassifierMapFlows, Entries: u.Entries, Capacity: u.Capacity})
	}
	return r, nil
}
