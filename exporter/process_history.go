package exporter

import (
	"fmt"
	"net/netip"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

// FlowTable is one hooked interface's flow table as read at one time.
type FlowTable struct {
	Where Where // Netns and Iface; Direction is unused
	Flows []loader.Flow
}

// ReadFlowTables reads the flow table of every interface shaper manages
// in netns, as FlowSource enumerates them. Interfaces without a table
// give none.
func ReadFlowTables(netns string) ([]FlowTable, error) {
	states, err := shaper.ListStates(netns)
	if err != nil {
		return nil, fmt.Errorf("list managed interfaces: %w", err)
	}
	var out []FlowTable
	for _, st := range states {
		flows, _, err := loader.ReadFlows(loader.SharedDir(st.Netns, st.Iface))
		if err != nil {
			return out, fmt.Errorf("%s: %w", st.Iface, err)
		}
		out = append(out, FlowTable{Where: Where{Netns: st.Netns, Iface: st.Iface}, Flows: flows})
	}
	return out, nil
}

// flowID names a flow table entry across samples.
type flowID struct {
	netns, iface string
	proto        uint8
	src, dst     netip.Addr
	sport, dport uint16
}

// flowLast is what an entry held at the last sample.
type flowLast struct {
	firstSeen      uint64
	bytes, packets [2]uint64
}

var directions = [2]string{"egress", "ingress"}

// ProcessCounter turns the flow tables' per-flow cumulative counters into
// per-process cumulative counters that only grow, one per namespace,
// interface, direction and comm. Flows without a comm are left out: their
// bytes are in their app's totals. It is pure: Add takes what was read
// and when.
type ProcessCounter struct {
	last   map[flowID]flowLast
	totals map[history.Key]history.Totals
	prev   uint64 // the monotonic time of the last Add; 0: none yet
}

// Add counts the tables read at mono (loader.MonotonicNow) and returns
// every process's running totals. Per flow: a known entry counts what it
// grew since the last Add; an entry that went down or began again (another
// flow took its key) counts all it holds; an unknown entry begun after
// the last Add is a new flow and counts all it holds, one begun before
// (it was there when counting started) only sets the baseline. Entries
// gone are forgotten: what they counted since the last Add is lost here
// (it is in their app's totals).
func (p *ProcessCounter) Add(mono uint64, tables []FlowTable) []history.Reading {
	if p.totals == nil {
		p.totals = map[history.Key]history.Totals{}
	}
	next := make(map[flowID]flowLast, len(p.last))
	for _, t := range tables {
		for i := range t.Flows {
			f := &t.Flows[i]
			id := flowID{t.Where.Netns, t.Where.Iface, f.Proto, f.Src, f.Dst, f.SPort, f.DPort}
			now := flowLast{firstSeen: f.FirstSeen, bytes: f.Bytes, packets: f.Packets}
			next[id] = now
			if f.Comm == "" {
				continue
			}
			last, known := p.last[id]
			for d := range 2 {
				var db, dp uint64
				switch {
				case known && last.firstSeen == now.firstSeen && now.bytes[d] >= last.bytes[d] && now.packets[d] >= last.packets[d]:
					db, dp = now.bytes[d]-last.bytes[d], now.packets[d]-last.packets[d]
				case known, p.prev != 0 && f.FirstSeen > p.prev:
					db, dp = now.bytes[d], now.packets[d]
				}
				if db == 0 && dp == 0 {
					continue
				}
				k := history.Key{Netns: t.Where.Netns, Iface: t.Where.Iface, Direction: directions[d], Kind: history.KindProcess, Name: f.Comm}
				tot := p.totals[k]
				p.totals[k] = history.Totals{Bytes: tot.Bytes + db, Packets: tot.Packets + dp}
			}
		}
	}
	p.last, p.prev = next, mono
	return p.Readings()
}

// Readings are every process's running totals, as the last Add left them.
func (p *ProcessCounter) Readings() []history.Reading {
	out := make([]history.Reading, 0, len(p.totals))
	for k, t := range p.totals {
		out = append(out, history.Reading{Key: k, Bytes: t.Bytes, Packets: t.Packets})
	}
	return out
}
