package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// DOT draws the topology in Graphviz's language: hosts are boxes, routers
// circles, switches wide boxes; each edge names its interfaces, addresses
// and rate.
func DOT(t *Topology) string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %q {\n", t.Name)
	fmt.Fprintf(&b, "  label=%q; labelloc=t; fontname=\"Helvetica\";\n", "lab "+t.Name)
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, n := range t.Nodes {
		shape, extra := "box", ""
		switch n.Kind {
		case KindRouter:
			shape = "circle"
			if n.OSPF != nil {
				extra = "\\nospf area " + n.OSPF.Area
			}
		case KindSwitch:
			shape, extra = "box3d", "\\nswitch"
		}
		fmt.Fprintf(&b, "  %q [shape=%s, label=\"%s%s\"];\n", n.Name, shape, dotEscape(n.Name), extra)
	}
	for _, l := range t.Links {
		a, z := l.Endpoints[0], l.Endpoints[1]
		label := ""
		if l.Rate > 0 {
			label = formatRate(l.Rate)
		}
		fmt.Fprintf(&b, "  %q -- %q [taillabel=\"%s\", headlabel=\"%s\", label=%q];\n",
			a.Node, z.Node, endLabel(a), endLabel(z), label)
	}
	b.WriteString("}\n")
	return b.String()
}

func endLabel(ep *Endpoint) string {
	parts := []string{ep.Iface}
	for _, a := range ep.Addrs {
		parts = append(parts, a.String())
	}
	return dotEscape(strings.Join(parts, "\n"))
}

func dotEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

func formatRate(bits uint64) string {
	switch {
	case bits >= 1e9 && bits%1e9 == 0:
		return fmt.Sprintf("%dgbit", bits/1e9)
	case bits >= 1e6 && bits%1e6 == 0:
		return fmt.Sprintf("%dmbit", bits/1e6)
	case bits >= 1e3 && bits%1e3 == 0:
		return fmt.Sprintf("%dkbit", bits/1e3)
	}
	return fmt.Sprintf("%dbit", bits)
}

// Render returns the topology as DOT text, or as an SVG or PNG drawn by
// Graphviz's dot.
func Render(ctx context.Context, t *Topology, format string) ([]byte, error) {
	src := DOT(t)
	switch format {
	case "dot", "":
		return []byte(src), nil
	case "svg", "png":
	default:
		return nil, badInput("graph format %q: use dot, svg or png", format)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		return nil, fmt.Errorf("drawing %s needs Graphviz's dot (apt-get install graphviz), or use -T dot: %w", format, err)
	}
	cmd := exec.CommandContext(ctx, "dot", "-T"+format)
	cmd.Stdin = strings.NewReader(src)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -T%s: %w: %s", format, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
