package shaper

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper/plan"
)

// WriteJSON writes the report for scripts.
func (r *StatusReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *StatusReport) WriteTable(w io.Writer) error {
	if len(r.Interfaces) == 0 && len(r.OtherNetns) == 0 {
		_, err := fmt.Fprintln(w, "shaper manages no interface here (apply a policy with `shaper apply FILE`)")
		return err
	}
	for i, s := range r.Interfaces {
		if i > 0 {
			fmt.Fprintln(w)
		}
		s.writeTable(w)
	}
	if len(r.OtherNetns) > 0 {
		if len(r.Interfaces) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "shaper also manages interfaces in %s: see them with --netns NAME or --all-namespaces\n", netnsList(r.OtherNetns))
	}
	return nil
}

func netnsList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = netnsText(n)
	}
	return strings.Join(out, ", ")
}

func netnsText(n string) string {
	if n == "" {
		return "the root namespace"
	}
	return "netns " + n
}

func (s *IfaceStatus) writeTable(w io.Writer) {
	where := s.Iface
	if s.Netns != "" {
		where += " in netns " + s.Netns
	}
	sync := "in sync"
	if len(s.Drift) > 0 {
		sync = "DRIFT"
	}
	fmt.Fprintf(w, "%s: egress %s, attached with %s, %s (applied %s from %s)\n",
		where, s.Egress.Mode, s.Attach, sync, s.AppliedAt.Local().Format("2006-01-02 15:04:05"), s.Source)
	for _, d := range s.Drift {
		fmt.Fprintf(w, "  ! %s\n", d)
	}
	writeClasses(w, "egress", s.Egress.Classes)
	if s.Ingress != nil && s.Path != nil {
		state := "complete"
		if !s.Path.Complete {
			state = "INCOMPLETE: downloads pass unshaped"
		}
		where := "ifb " + s.Path.Device
		if s.Path.Via == "netns" {
			where = fmt.Sprintf("namespace %s (veth %s, inside %s)", s.Path.Netns, s.Path.Device, s.Path.Inner)
		}
		fmt.Fprintf(w, "  ingress %s via %s, %s\n", s.Ingress.Mode, where, state)
		writeClasses(w, "ingress", s.Ingress.Classes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeApps(tw, "egress", s.Egress)
	if s.Ingress != nil {
		writeApps(tw, "ingress", *s.Ingress)
	}
	tw.Flush()
	if f := s.Flows; f != nil {
		fmt.Fprintf(w, "  flows: %d of %d entries (%.1f%%), %d misses, %d evictions (TCP flows that lost their entry)\n",
			f.Entries, f.Capacity, 100*float64(f.Entries)/float64(f.Capacity), f.Misses, f.Evictions)
	}
	for _, h := range s.Hooks {
		fmt.Fprintf(w, "  hook %s\n", hookText(h))
	}
}

func writeClasses(w io.Writer, dir string, classes []ClassStatus) {
	if len(classes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  CLASS (%s)\tID\tRATE\tCEIL\tBYTES\tPACKETS\tDROPS\tOVERLIMITS\tBACKLOG\tNOW\t\n", dir)
	for _, c := range classes {
		name := c.Name
		if name == "" {
			name = "(link)"
		}
		name = strings.Repeat("  ", c.Depth) + name
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", name, c.ID, cfgRate(c.RateBits), cfgRate(c.CeilBits),
			bytesText(c.Stats.Bytes), c.Stats.Packets, c.Stats.Drops, c.Stats.Overlimits, bytesText(uint64(c.Stats.Backlog)), rateText(c.NowBits))
	}
	tw.Flush()
}

func writeApps(tw io.Writer, dir string, d DirStatus) {
	fmt.Fprintf(tw, "  APP (%s)\tBYTES\tPACKETS\tNOW\t\n", dir)
	for _, a := range d.Apps {
		name := a.Name
		if a.Removed {
			name += " (removed)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t\n", name, bytesText(a.Bytes), a.Packets, rateText(a.NowBits))
	}
	if d.Retired != (loader.Counter{}) {
		fmt.Fprintf(tw, "  (retired apps)\t%s\t%d\t-\t\n", bytesText(d.Retired.Bytes), d.Retired.Packets)
	}
}

func hookText(h loader.HookProgram) string {
	owner := "not ours"
	if h.Ours {
		owner = "ours"
	}
	return fmt.Sprintf("%s %s: program %s (id %d), %s", h.Dir, h.Kind, h.ProgName, h.ProgID, owner)
}

func cfgRate(bits uint64) string {
	if bits == 0 {
		return "-"
	}
	return plan.FormatRate(bits / 8)
}

// rateText rounds a measured rate for reading: 49.87mbit.
func rateText(bits uint64) string {
	f := float64(bits)
	switch {
	case bits == 0:
		return "-"
	case f >= 1e9:
		return fmt.Sprintf("%.2fgbit", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.2fmbit", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1fkbit", f/1e3)
	}
	return fmt.Sprintf("%dbit", bits)
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
