package classify

import (
	"net/netip"
	"slices"

	"github.com/shaperdev/shaper/policy"
)

// Packet is the tuple the classifier matches, as this host's egress sees
// the flow (the ingress program reverses the tuple before matching).
type Packet struct {
	IsIP     bool // false: non-IP, truncated or malformed; takes the default
	Proto    uint8
	HasPorts bool // TCP/UDP/SCTP/UDP-Lite and not a later fragment
	SPort    uint16
	DPort    uint16
	Src, Dst netip.Addr
	// Who owns the packet's local socket, when known: the comm of the
	// process that opened it ("": unknown) and its cgroup v2 id (0).
	Comm   string
	Cgroup uint64
}

// Match classifies p straight from the policy's semantics: apps in order,
// the first app with a matching selector wins. It is the reference the
// compiled tables and the BPF program are tested against.
func Match(apps []policy.App, b Binding, p Packet) Result {
	if p.IsIP {
		for _, a := range apps {
			for _, s := range a.Match {
				if selectorMatches(s, b, p) {
					return resultFor(a.Name, b)
				}
			}
		}
	}
	return Result{ClassID: b.Default.ClassID, Slot: b.Default.Slot}
}

func resultFor(app string, b Binding) Result {
	c, ok := b.AppClass[app]
	if !ok {
		c = b.Default
	}
	return Result{App: b.AppID[app], ClassID: c.ClassID, Slot: c.Slot}
}

func selectorMatches(s policy.Selector, b Binding, p Packet) bool {
	if s.Process != "" && s.Process != p.Comm {
		return false
	}
	if s.Cgroup != "" && (p.Cgroup == 0 || b.Cgroups[s.Cgroup] != p.Cgroup) {
		return false
	}
	if len(s.Protos) > 0 && !slices.Contains(s.Protos, p.Proto) {
		return false
	}
	if len(s.Ports)+len(s.SPorts)+len(s.DPorts) > 0 {
		if !p.HasPorts {
			return false
		}
		if len(s.SPorts) > 0 && !inRanges(p.SPort, s.SPorts) {
			return false
		}
		if len(s.DPorts) > 0 && !inRanges(p.DPort, s.DPorts) {
			return false
		}
		if len(s.Ports) > 0 && !inRanges(p.SPort, s.Ports) && !inRanges(p.DPort, s.Ports) {
			return false
		}
	}
	return inPrefixes(p.Src, s.Src) && inPrefixes(p.Dst, s.Dst)
}

// inPrefixes is true when ps is empty (any address) or one contains a.
func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}
