// Package report turns counter history into the answer to "which app used
// my volume": per group (app, class or process) the bytes, packets, average and peak
// rate and share of an interval, as a table, CSV, JSON or a stacked area
// chart. It is pure: the series come from the history store, a Prometheus
// server or the kernel counters, and the caller fetches them.
package report

import (
	"fmt"
	"sort"
	"time"

	"github.com/shaperdev/shaper/history"
)

// Grouping and direction values as the command line spells them.
const (
	ByApp     = "app"
	ByClass   = "class"
	ByProcess = "process"

	Up   = "up"
	Down = "down"
	Both = "both"
)

// Options select what a report counts.
type Options struct {
	By        string // ByApp, ByClass or ByProcess
	Direction string // Up, Down or Both
	Netns     string // the namespace the counters were taken in ("" = the root one)
	Iface     string // "" = every interface
	// Parents are classes that hold others (by class): their bytes are
	// their children's, so the total and the shares leave them out. The
	// class "root" is one whenever other classes are counted too.
	Parents map[string]bool
}

// Check says what is wrong with o, in words a user can act on.
func (o Options) Check() error {
	switch o.By {
	case ByApp, ByClass, ByProcess:
	default:
		return fmt.Errorf("unknown --by %q: use app, class or process", o.By)
	}
	switch o.Direction {
	case Up, Down, Both:
	default:
		return fmt.Errorf("unknown --direction %q: use up, down or both", o.Direction)
	}
	return nil
}

// Match selects the keys of the report: the group kind, the direction,
// the namespace and the interface.
func (o Options) Match(k history.Key) bool {
	if k.Kind != o.By || k.Netns != o.Netns || (o.Iface != "" && k.Iface != o.Iface) {
		return false
	}
	switch o.Direction {
	case Up:
		return k.Direction == "egress"
	case Down:
		return k.Direction == "ingress"
	}
	return true
}

// QuotaUse is a group's use of its volume budget in the current period.
type QuotaUse struct {
	Used   uint64    `json:"used"`
	Limit  uint64    `json:"limit"`
	Resets time.Time `json:"resets"`
}

// SetQuota shows q in the row of name; false when the report has no such
// row.
func (r *Report) SetQuota(name string, q QuotaUse) bool {
	for i := range r.Rows {
		if r.Rows[i].Name == name {
			r.Rows[i].Quota = &q
			return true
		}
	}
	return false
}

// Row is one group of the report.
type Row struct {
	Name     string  `json:"name"`
	Bytes    uint64  `json:"bytes"`
	Packets  uint64  `json:"packets"`
	AvgBits  uint64  `json:"avg_bits"`  // bytes*8 over the interval's seconds
	PeakBits *uint64 `json:"peak_bits"` // the busiest step's rate; nil without history
	Share    float64 `json:"share"`     // of the report's bytes, 0..1
	// Parent marks a class that holds others: its bytes are theirs, so it
	// is left out of the total and the chart.
	Parent bool `json:"parent,omitempty"`
	// Per direction, when the report counts both.
	UpBytes   *uint64   `json:"up_bytes,omitempty"`
	DownBytes *uint64   `json:"down_bytes,omitempty"`
	Quota     *QuotaUse `json:"quota,omitempty"`
}

// Report is the rows of an interval and, with history, the rate of each
// group per step for charts.
type Report struct {
	From, To  time.Time
	Step      time.Duration // 0 without history
	Source    string        // where the numbers come from, for the header
	Note      string        // a caveat the header says (the kernel fallback)
	By        string
	Direction string
	Rows      []Row // by bytes, most first
	// Times are the steps' starts; Bits[i][j] is Rows[i]'s rate in step j.
	Times []time.Time
	Bits  [][]float64
}

// TotalBytes is the sum of the rows' bytes, parents left out.
func (r *Report) TotalBytes() uint64 {
	var n uint64
	for _, row := range r.Rows {
		if !row.Parent {
			n += row.Bytes
		}
	}
	return n
}

// group gathers what one name counted, over keys of every interface and
// direction the options select.
type group struct {
	name     string
	t        history.Totals
	up, down uint64
	bytes    []uint64 // per step of the report's timeline
}

// Build makes the report of series bucketed by step over [from, to). The
// series are filtered by o.Match, so a caller may pass more than it asked
// for. A step that overlaps the interval counts whole: the store's steps
// start at round times, the interval where the user said.
func Build(series []history.Series, o Options, from, to time.Time, step time.Duration) *Report {
	if step <= 0 || step > to.Sub(from) { // one step: the whole interval
		step = max(to.Sub(from), time.Second)
	}
	r := &Report{From: from, To: to, Step: step, By: o.By, Direction: o.Direction}
	origin := from.Truncate(step)
	n := int((to.Sub(origin) + step - 1) / step)
	groups := map[string]*group{}
	for _, s := range series {
		if !o.Match(s.Key) {
			continue
		}
		g := groups[s.Name]
		if g == nil {
			g = &group{name: s.Name, bytes: make([]uint64, n)}
			groups[s.Name] = g
		}
		for _, p := range s.Points {
			if p.T.Before(origin) || !p.T.Before(to) {
				continue
			}
			g.add(s.Direction, p.Totals)
			g.bytes[p.T.Sub(origin)/step] += p.Bytes
		}
	}
	r.Times = make([]time.Time, n)
	for i := range r.Times {
		r.Times[i] = origin.Add(time.Duration(i) * step)
	}
	for _, g := range sortGroups(groups) {
		row, bits := g.row(step, o.Direction == Both)
		r.Rows = append(r.Rows, row)
		r.Bits = append(r.Bits, bits)
	}
	r.finish(o)
	return r
}

// FromTotals makes a report of totals alone, as the kernel counters give
// them: no steps, no peak. The average is over [from, to) when from is known.
func FromTotals(totals map[history.Key]history.Totals, o Options, from, to time.Time) *Report {
	r := &Report{From: from, To: to, By: o.By, Direction: o.Direction}
	groups := map[string]*group{}
	for k, t := range totals {
		if !o.Match(k) {
			continue
		}
		g := groups[k.Name]
		if g == nil {
			g = &group{name: k.Name}
			groups[k.Name] = g
		}
		g.add(k.Direction, t)
	}
	for _, g := range sortGroups(groups) {
		row, _ := g.row(0, o.Direction == Both)
		row.PeakBits = nil
		r.Rows = append(r.Rows, row)
	}
	r.finish(o)
	return r
}

func (g *group) add(dir string, t history.Totals) {
	g.t.Bytes += t.Bytes
	g.t.Packets += t.Packets
	if dir == "ingress" {
		g.down += t.Bytes
	} else {
		g.up += t.Bytes
	}
}

// row makes g's row and its rate per step; avg_bits and share are left to
// finish, which knows the interval and the total.
func (g *group) row(step time.Duration, both bool) (Row, []float64) {
	row := Row{Name: g.name, Bytes: g.t.Bytes, Packets: g.t.Packets}
	if both {
		up, down := g.up, g.down
		row.UpBytes, row.DownBytes = &up, &down
	}
	if step <= 0 {
		return row, nil
	}
	bits := make([]float64, len(g.bytes))
	var peak float64
	for i, b := range g.bytes {
		bits[i] = float64(b) * 8 / step.Seconds()
		peak = max(peak, bits[i])
	}
	p := uint64(peak + 0.5)
	row.PeakBits = &p
	return row, bits
}

// finish sets what needs every row: which are parents, the average over
// the interval and the shares.
func (r *Report) finish(o Options) {
	for i := range r.Rows {
		name := r.Rows[i].Name
		r.Rows[i].Parent = o.By == ByClass && (o.Parents[name] || name == "root" && len(r.Rows) > 1)
	}
	total := r.TotalBytes()
	secs := r.To.Sub(r.From).Seconds()
	for i := range r.Rows {
		row := &r.Rows[i]
		if secs > 0 && !r.From.IsZero() {
			row.AvgBits = uint64(float64(row.Bytes)*8/secs + 0.5)
		}
		if total > 0 {
			row.Share = float64(row.Bytes) / float64(total)
		}
	}
}

// sortGroups orders groups by bytes, most first, then by name so that
// reports are stable.
func sortGroups(m map[string]*group) []*group {
	out := make([]*group, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].t.Bytes != out[j].t.Bytes {
			return out[i].t.Bytes > out[j].t.Bytes
		}
		return out[i].name < out[j].name
	})
	return out
}
