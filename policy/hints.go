package policy

import "fmt"

// Hints are advice about a valid policy that probably does not say what
// its author meant; `shaper validate` prints them, nothing refuses them.
//
// Ingress selectors describe a flow as egress sees it (the tuple is
// reversed), so a download from remote port 443 matches dport: 443, and
// one app {proto: tcp, dport: 443} covers upload and download. An app
// used by ingress classes only that matches on sport most likely means
// the remote's port and will not match what its author expects.
func Hints(p *Policy) []string {
	in, out := map[string]bool{}, map[string]bool{}
	for _, ifc := range p.Interfaces {
		for _, c := range ifc.Ingress.Leaves() {
			for _, a := range c.Apps {
				in[a] = true
			}
		}
		for _, c := range ifc.Egress.Leaves() {
			for _, a := range c.Apps {
				out[a] = true
			}
		}
	}
	var hints []string
	for _, a := range p.Apps {
		if !in[a.Name] || out[a.Name] {
			continue
		}
		for _, s := range a.Match {
			if len(s.SPorts) == 0 {
				continue
			}
			hints = append(hints, fmt.Sprintf("%s:%d:%d: app %q matches sport and only ingress (download) classes use it: "+
				"ingress selectors describe the flow as egress sees it, so the remote's port is dport "+
				"(one app {proto: tcp, dport: 443} covers uploads to and downloads from port 443)",
				s.Pos.File, s.Pos.Line, s.Pos.Col, a.Name))
		}
	}
	return hints
}
