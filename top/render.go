package top

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
)

// Style decorates the rendering; the zero value draws plain text (the
// snapshot printed without a terminal).
type Style struct {
	Title, Header, Hint lipgloss.Style
	On                  bool
}

// TermStyle is the terminal's.
func TermStyle() Style {
	return Style{
		Title:  lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		Header: lipgloss.NewStyle().Bold(true).Reverse(true),
		Hint:   lipgloss.NewStyle().Faint(true),
		On:     true,
	}
}

func (s Style) title(x string) string  { return s.apply(s.Title, x) }
func (s Style) header(x string) string { return s.apply(s.Header, x) }
func (s Style) hint(x string) string   { return s.apply(s.Hint, x) }

func (s Style) apply(st lipgloss.Style, x string) string {
	if !s.On {
		return x
	}
	return st.Render(x)
}

// Render draws frame f, rows sorted by, at most maxFlows flows, each line
// cut to width (0: not cut).
func Render(f Frame, by SortBy, maxFlows, width int, st Style) string {
	var b strings.Builder
	over := "first reading: rates from the next"
	if f.Over > 0 {
		over = "rates over " + f.Over.Round(10e6).String()
	}
	b.WriteString(st.title(fmt.Sprintf("shaper top  %s  %s  sorted by %s", f.At.Format("15:04:05"), over, by)) + "\n")
	for _, d := range f.Drift {
		b.WriteString("! " + d + "\n")
	}
	b.WriteString(table(st, width, "CLASS\tIFACE\tID\tUP NOW\tRATE\tCEIL\tUSE\tTOTAL", len(f.Classes), func(i int) string {
		c := f.Classes[i]
		use := "-"
		if c.RateBits > 0 && f.Over > 0 {
			use = fmt.Sprintf("%.0f%%", 100*c.Rate[Up]/float64(c.RateBits))
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", c.Name, c.Iface, c.ID, rateText(c.Rate[Up]),
			bitsText(c.RateBits), bitsText(c.CeilBits), use, bytesText(c.Bytes[Up]))
	}))
	b.WriteString(table(st, width, "APP\tIFACE\tCLASS\tUP NOW\tDOWN NOW\tUP TOTAL\tDOWN TOTAL", len(f.Apps), func(i int) string {
		a := f.Apps[i]
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", a.Name, a.Iface, dash(a.Class), rateText(a.Rate[Up]), rateText(a.Rate[Down]),
			bytesText(a.Bytes[Up]), bytesText(a.Bytes[Down]))
	}))
	n := min(len(f.Flows), maxFlows)
	b.WriteString(table(st, width, "PROCESS\tAPP\tPROTO\tLOCAL\tREMOTE\tUP NOW\tDOWN NOW\tTOTAL\tIDLE", n, func(i int) string {
		x := f.Flows[i]
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", x.Process, dash(x.App), x.Proto, x.Local, x.Remote,
			rateText(x.Rate[Up]), rateText(x.Rate[Down]), bytesText(x.Bytes[Up]+x.Bytes[Down]), x.Idle.Round(1e9))
	}))
	if len(f.Flows) > n {
		fmt.Fprintf(&b, "(%d more flows)\n", len(f.Flows)-n)
	}
	for _, t := range f.Tables {
		b.WriteString(t + "\n")
	}
	return b.String()
}

// table lays out a header and n rows in columns.
func table(st Style, width int, head string, n int, row func(int) string) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, head+"\t")
	for i := range n {
		fmt.Fprintln(tw, row(i)+"\t")
	}
	tw.Flush()
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	var out strings.Builder
	out.WriteString("\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " ")
		if width > 0 && len(l) > width {
			l = l[:width]
		}
		if i == 0 {
			l = st.header(l)
		}
		out.WriteString(l + "\n")
	}
	return out.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rateText rounds a rate in bits/s: 49.87mbit.
func rateText(bits float64) string {
	switch {
	case bits <= 0:
		return "0"
	case bits >= 1e9:
		return fmt.Sprintf("%.2fgbit", bits/1e9)
	case bits >= 1e6:
		return fmt.Sprintf("%.2fmbit", bits/1e6)
	case bits >= 1e3:
		return fmt.Sprintf("%.1fkbit", bits/1e3)
	}
	return fmt.Sprintf("%.0fbit", bits)
}

func bitsText(bits uint64) string {
	if bits == 0 {
		return "-"
	}
	return rateText(float64(bits))
}

func bytesText(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTP"[exp])
}
