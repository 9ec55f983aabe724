package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Formats -o accepts.
var Formats = []string{"table", "csv", "json", "svg", "png"}

// Write writes r in format to w.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "table":
		return r.WriteTable(w)
	case "csv":
		return r.WriteCSV(w)
	case "json":
		return r.WriteJSON(w)
	case "svg", "png":
		return r.WriteChart(w, format)
	}
	return fmt.Errorf("unknown output %q: use table, csv, json, svg or png", format)
}

// Title says what the report counts and over which interval, as the table's
// header and the chart's title.
func (r *Report) Title() string {
	step := ""
	if r.Step > 0 {
		step = " (" + span(r.Step) + ")"
	}
	from, to := stamps(r.From, r.To)
	return fmt.Sprintf("shaper: bandwidth by %s, %s – %s%s", r.By, from, to, step)
}

// stamps formats an interval's ends in the start's zone: to the second when it
// is short, and the end without its date when that is the start's.
func stamps(from, to time.Time) (string, string) {
	if from.IsZero() {
		return "?", to.Format("2006-01-02 15:04")
	}
	to = to.In(from.Location())
	layout := "2006-01-02 15:04"
	if to.Sub(from) < time.Hour {
		layout += ":05"
	}
	end := to.Format(layout)
	if to.Format(time.DateOnly) == from.Format(time.DateOnly) {
		end = to.Format(layout[len("2006-01-02 "):])
	}
	return from.Format(layout), end
}

func (r *Report) directionWords() string {
	switch r.Direction {
	case Up:
		return "upload"
	case Down:
		return "download"
	}
	return "upload and download"
}

// WriteTable writes the report for a terminal: a header saying the interval
// and the source, then aligned rows in human units.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s, %s, %s\n", r.Title(), r.directionWords(), r.Source)
	if r.Note != "" {
		fmt.Fprintln(w, r.Note)
	}
	if len(r.Rows) == 0 {
		_, err := fmt.Fprintln(w, "nothing counted in this interval")
		return err
	}
	both, quota := r.columns()
	// Numbers align right, names left: names are padded here, as
	// tabwriter aligns every column one way.
	nw := len("total")
	for _, row := range r.Rows {
		nw = max(nw, len(rowName(row)))
	}
	pad := func(s string) string { return fmt.Sprintf("%-*s", nw, s) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := pad("NAME") + "\tBYTES\tPACKETS\tAVG\tPEAK\tSHARE\t"
	if both {
		head += "UP\tDOWN\t"
	}
	if quota {
		head += "QUOTA\tRESETS\t"
	}
	fmt.Fprintln(tw, head)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.1f%%\t", pad(rowName(row)), Bytes(row.Bytes), row.Packets,
			Bits(float64(row.AvgBits)), peakText(row.PeakBits), row.Share*100)
		if both {
			fmt.Fprintf(tw, "%s\t%s\t", Bytes(deref(row.UpBytes)), Bytes(deref(row.DownBytes)))
		}
		if quota {
			fmt.Fprint(tw, quotaText(row.Quota))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\n", pad("total"), Bytes(r.TotalBytes()))
	return tw.Flush()
}

func rowName(row Row) string {
	if row.Parent {
		return row.Name + " (parent)"
	}
	return row.Name
}

func peakText(p *uint64) string {
	if p == nil {
		return "-"
	}
	return Bits(float64(*p))
}

func quotaText(q *QuotaUse) string {
	if q == nil {
		return "-\t-\t"
	}
	pct := 0.0
	if q.Limit > 0 {
		pct = float64(q.Used) / float64(q.Limit) * 100
	}
	return fmt.Sprintf("%s of %s (%.0f%%)\t%s\t", Bytes(q.Used), Bytes(q.Limit), pct, q.Resets.Format("2006-01-02 15:04"))
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// columns says which optional columns the rows fill.
func (r *Report) columns() (both, quota bool) {
	for _, row := range r.Rows {
		both = both || row.UpBytes != nil
		quota = quota || row.Quota != nil
	}
	return both, quota
}

// WriteCSV writes a header row and one row per group; numbers are plain
// integers (bytes, bits per second), the share a fraction, an unknown peak
// empty.
func (r *Report) WriteCSV(w io.Writer) error {
	both, quota := r.columns()
	head := []string{"name", "bytes", "packets", "avg_bits", "peak_bits", "share"}
	if both {
		head = append(head, "up_bytes", "down_bytes")
	}
	if quota {
		head = append(head, "quota_used", "quota_limit", "quota_resets")
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, row := range r.Rows {
		peak := ""
		if row.PeakBits != nil {
			peak = u(*row.PeakBits)
		}
		rec := []string{row.Name, u(row.Bytes), u(row.Packets), u(row.AvgBits), peak, strconv.FormatFloat(row.Share, 'f', 6, 64)}
		if both {
			rec = append(rec, u(deref(row.UpBytes)), u(deref(row.DownBytes)))
		}
		if quota {
			rec = append(rec, quotaCSV(row.Quota)...)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

func quotaCSV(q *QuotaUse) []string {
	if q == nil {
		return []string{"", "", ""}
	}
	return []string{strconv.FormatUint(q.Used, 10), strconv.FormatUint(q.Limit, 10), q.Resets.Format(time.RFC3339)}
}

// JSON is the report as -o json writes it.
type JSON struct {
	From        *time.Time `json:"from"` // null when unknown (no policy applied)
	To          *time.Time `json:"to"`
	Step        string     `json:"step"` // "" without history
	StepSeconds float64    `json:"step_seconds"`
	Source      string     `json:"source"`
	Note        string     `json:"note,omitempty"`
	By          string     `json:"by"`
	Direction   string     `json:"direction"`
	TotalBytes  uint64     `json:"total_bytes"`
	Groups      []Row      `json:"groups"`
}

// WriteJSON writes one object with the interval, the source and one object
// per group.
func (r *Report) WriteJSON(w io.Writer) error {
	out := JSON{From: timeOrNil(r.From), To: timeOrNil(r.To), StepSeconds: r.Step.Seconds(), Source: r.Source, Note: r.Note,
		By: r.By, Direction: r.Direction, TotalBytes: r.TotalBytes(), Groups: r.Rows}
	if r.Step > 0 {
		out.Step = span(r.Step)
	}
	if out.Groups == nil {
		out.Groups = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
