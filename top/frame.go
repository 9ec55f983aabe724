package top

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

// Up and Down index the per-direction fields: up is egress (the upload).
const (
	Up   = 0
	Down = 1
)

// Row is an app or a class: totals and rates (bits/s) up and down.
type Row struct {
	Iface    string
	Name     string
	Class    string    // apps: the class they go to
	ID       string    // classes: the HTB handle
	Bytes    [2]uint64 // since counting began
	Rate     [2]float64
	RateBits uint64 // classes: the configured rate (0: none)
	CeilBits uint64
}

// FlowRow is a flow with its rates.
type FlowRow struct {
	Iface   string
	Proto   string
	Local   string // address:port, the end this host has (egress's source)
	Remote  string
	App     string
	Process string // comm (pid) when known
	Bytes   [2]uint64
	Rate    [2]float64
	Idle    time.Duration // since its last packet
}

// Frame is what one screen shows.
type Frame struct {
	At      time.Time
	Over    time.Duration // the rates' interval; 0 for a first reading
	Classes []Row
	Apps    []Row
	Flows   []FlowRow
	Tables  []string // one line per interface: its flow table's fill
	Drift   []string
}

// Build makes the frame of reading cur, with rates against prev (nil: no
// rates yet).
func Build(prev, cur *Sample) Frame {
	f := Frame{At: cur.At}
	var dt float64
	if prev != nil {
		f.Over = cur.At.Sub(prev.At)
		dt = f.Over.Seconds()
	}
	rate := func(was, now uint64) float64 {
		if dt <= 0 || now < was {
			return 0
		}
		return float64(now-was) * 8 / dt
	}
	var fdt float64
	if prev != nil {
		fdt = cur.FlowsAt.Sub(prev.FlowsAt).Seconds()
	}
	flowRate := func(was, now uint64) float64 {
		if fdt <= 0 || now < was {
			return 0
		}
		return float64(now-was) * 8 / fdt
	}
	old := index(prev)
	for _, ifc := range cur.Report.Interfaces {
		f.Classes = append(f.Classes, classRows(ifc, old, rate)...)
		f.Apps = append(f.Apps, appRows(ifc, old, rate)...)
		f.Flows = append(f.Flows, flowRows(ifc, cur.Flows[ifc.Iface], old, flowRate)...)
		if t := ifc.Flows; t != nil {
			f.Tables = append(f.Tables, fmt.Sprintf("%s flows: %d of %d (%.1f%%), %d evictions",
				ifc.Iface, t.Entries, t.Capacity, 100*float64(t.Entries)/float64(max(t.Capacity, 1)), t.Evictions))
		}
		for _, d := range ifc.Drift {
			f.Drift = append(f.Drift, ifc.Iface+": "+d)
		}
	}
	return f
}

// past holds a previous reading's byte counts by row key.
type past map[string][2]uint64

func index(s *Sample) past {
	out := past{}
	if s == nil {
		return out
	}
	for _, ifc := range s.Report.Interfaces {
		for _, c := range ifc.Egress.Classes {
			out["c "+ifc.Iface+" "+c.ID] = [2]uint64{c.Stats.Bytes}
		}
		for _, r := range appRows(ifc, nil, nil) {
			out["a "+ifc.Iface+" "+r.Name] = r.Bytes
		}
		for _, fl := range s.Flows[ifc.Iface] {
			out["f "+ifc.Iface+" "+flowKey(fl)] = fl.Bytes
		}
	}
	return out
}

func classRows(ifc shaper.IfaceStatus, old past, rate func(uint64, uint64) float64) []Row {
	var out []Row
	for _, c := range ifc.Egress.Classes {
		if c.Name == "" {
			continue // the link class: the sum of the others
		}
		r := Row{Iface: ifc.Iface, Name: c.Name, ID: c.ID, Bytes: [2]uint64{c.Stats.Bytes}, RateBits: c.RateBits, CeilBits: c.CeilBits}
		if was, ok := old["c "+ifc.Iface+" "+c.ID]; ok {
			r.Rate[Up] = rate(was[Up], r.Bytes[Up])
		}
		out = append(out, r)
	}
	return out
}

// appRows merges an interface's apps up (egress) and down (ingress).
// rate nil: totals only.
func appRows(ifc shaper.IfaceStatus, old past, rate func(uint64, uint64) float64) []Row {
	byName := map[string]*Row{}
	var order []string
	add := func(dir int, apps []shaper.AppStatus) {
		for _, a := range apps {
			r, ok := byName[a.Name]
			if !ok {
				r = &Row{Iface: ifc.Iface, Name: a.Name}
				byName[a.Name] = r
				order = append(order, a.Name)
			}
			r.Bytes[dir] += a.Bytes
			if a.Class != "" {
				r.Class = a.Class
			}
		}
	}
	add(Up, ifc.Egress.Apps)
	if ifc.Ingress != nil {
		add(Down, ifc.Ingress.Apps)
	}
	out := make([]Row, 0, len(order))
	for _, n := range order {
		r := *byName[n]
		if rate != nil {
			if was, ok := old["a "+ifc.Iface+" "+n]; ok {
				r.Rate = [2]float64{rate(was[Up], r.Bytes[Up]), rate(was[Down], r.Bytes[Down])}
			}
		}
		out = append(out, r)
	}
	return out
}

func flowRows(ifc shaper.IfaceStatus, flows []loader.Flow, old past, rate func(uint64, uint64) float64) []FlowRow {
	names := map[uint32]string{}
	for _, a := range ifc.Egress.Apps {
		names[a.ID] = a.Name
	}
	if ifc.Ingress != nil {
		for _, a := range ifc.Ingress.Apps {
			names[a.ID] = a.Name
		}
	}
	now := loader.MonotonicNow()
	out := make([]FlowRow, 0, len(flows))
	for _, fl := range flows {
		r := FlowRow{Iface: ifc.Iface, Proto: protoName(fl.Proto), Local: hostPort(fl.Src, fl.SPort, fl.Proto),
			Remote: hostPort(fl.Dst, fl.DPort, fl.Proto), Bytes: fl.Bytes, Process: process(fl)}
		for d := range 2 {
			if fl.Seen[d] {
				r.App = names[fl.App[d]]
				break
			}
		}
		if now > fl.LastSeen {
			r.Idle = time.Duration(now - fl.LastSeen)
		}
		if was, ok := old["f "+ifc.Iface+" "+flowKey(fl)]; ok {
			r.Rate = [2]float64{rate(was[Up], fl.Bytes[Up]), rate(was[Down], fl.Bytes[Down])}
		}
		out = append(out, r)
	}
	return out
}

func flowKey(f loader.Flow) string {
	return fmt.Sprintf("%d %s %d %s %d", f.Proto, f.Src, f.SPort, f.Dst, f.DPort)
}

func process(f loader.Flow) string {
	switch {
	case f.Comm != "" && f.PID != 0:
		return fmt.Sprintf("%s (%d)", f.Comm, f.PID)
	case f.Comm != "":
		return f.Comm
	case f.PID != 0:
		return fmt.Sprintf("pid %d", f.PID)
	}
	return "-"
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmp6"
	case 132:
		return "sctp"
	}
	return fmt.Sprintf("%d", p)
}

func hostPort(a netip.Addr, port uint16, proto uint8) string {
	switch proto {
	case 6, 17, 132, 136:
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}

// SortBy is the order of rows.
type SortBy int

// Orders, cycled by keys r, b and n.
const (
	ByRate  SortBy = iota // the sum of both directions' rates, highest first
	ByBytes               // totals, highest first
	ByName
)

func (s SortBy) String() string { return [...]string{"rate", "bytes", "name"}[s] }

// Sort orders the frame's rows.
func (f *Frame) Sort(by SortBy) {
	sortRows(f.Classes, by)
	sortRows(f.Apps, by)
	sort.SliceStable(f.Flows, func(i, j int) bool {
		a, b := f.Flows[i], f.Flows[j]
		switch by {
		case ByBytes:
			return a.Bytes[Up]+a.Bytes[Down] > b.Bytes[Up]+b.Bytes[Down]
		case ByName:
			return a.Process+a.App < b.Process+b.App
		}
		if x, y := a.Rate[Up]+a.Rate[Down], b.Rate[Up]+b.Rate[Down]; x != y {
			return x > y
		}
		return a.Idle < b.Idle
	})
}

func sortRows(rows []Row, by SortBy) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch by {
		case ByBytes:
			return a.Bytes[Up]+a.Bytes[Down] > b.Bytes[Up]+b.Bytes[Down]
		case ByName:
			return strings.Compare(a.Iface+" "+a.Name, b.Iface+" "+b.Name) < 0
		}
		if x, y := a.Rate[Up]+a.Rate[Down], b.Rate[Up]+b.Rate[Down]; x != y {
			return x > y
		}
		return a.Name < b.Name
	})
}
