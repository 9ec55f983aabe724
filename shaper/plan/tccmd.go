package plan

import (
	"fmt"
	"strconv"
)

// FormatRate renders a rate in bytes/s the way tc writes rates, in the
// largest unit that keeps it exact: 12500000 → "100mbit", 128000 → "1024kbit".
// tc parses the result back to the same bytes/s.
func FormatRate(rateBytes uint64) string {
	bits := rateBytes * 8
	switch {
	case bits == 0:
		return "0bit"
	case bits%1e9 == 0:
		return strconv.FormatUint(bits/1e9, 10) + "gbit"
	case bits%1e6 == 0:
		return strconv.FormatUint(bits/1e6, 10) + "mbit"
	case bits%1e3 == 0:
		return strconv.FormatUint(bits/1e3, 10) + "kbit"
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

// HandleString renders a qdisc or class handle as tc does, in hex:
// 0x10000 → "1:", 0x10010 → "1:10"; TC_H_ROOT → "root".
func HandleString(h uint32) string {
	switch h {
	case HandleRoot:
		return "root"
	case 0:
		return "0:"
	}
	if h&0xFFFF == 0 {
		return fmt.Sprintf("%x:", h>>16)
	}
	return fmt.Sprintf("%x:%x", h>>16, h&0xFFFF)
}

// TCCommands returns the tc command lines that build the same kernel state
// as applying the plan with netlink to an interface without a root qdisc
// of its own (for --dry-run, docs and debugging).
func (p *Plan) TCCommands(dev string) []string {
	if p == nil {
		return nil
	}
	if p.Kind == "tbf" {
		t := p.TBF
		cmd := fmt.Sprintf("tc qdisc add dev %s root handle %s tbf rate %s burst %d limit %d",
			dev, HandleString(p.Handle), FormatRate(t.RateBytes), t.Burst, t.Limit)
		if t.PeakBytes > 0 {
			cmd += fmt.Sprintf(" peakrate %s mtu %d", FormatRate(t.PeakBytes), t.MTU)
		}
		return []string{cmd}
	}
	// tc reads "default" as a hex minor, like class ids.
	cmds := []string{fmt.Sprintf("tc qdisc add dev %s root handle %s htb default %x",
		dev, HandleString(p.Handle), p.Default&0xFFFF)}
	for _, c := range p.Classes {
		cmds = append(cmds, fmt.Sprintf(
			"tc class add dev %s parent %s classid %s htb rate %s ceil %s burst %d cburst %d quantum %d prio %d",
			dev, HandleString(c.Parent), HandleString(c.ClassID), FormatRate(c.RateBytes),
			FormatRate(c.CeilBytes), c.Burst, c.CBurst, c.Quantum, c.Prio))
	}
	return cmds
}
