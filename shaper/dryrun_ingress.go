package shaper

import (
	"fmt"
	"io"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// describeIngress prints, for --dry-run, the download plan, the download
// path it needs and the commands that build the same by hand.
func (j *job) describeIngress(w io.Writer) {
	if j.ingress == nil {
		if j.iface.Ingress != nil {
			fmt.Fprintln(w, "ingress: monitor-only (classified and counted, not shaped)")
		}
		return
	}
	p := pathNames(j.netns, j.iface.Name, j.iface.Ingress.Via)
	fmt.Fprintf(w, "ingress plan (via %s):\n%s\n", p.Via, plan.Indent(j.ingress.String()))
	fmt.Fprintln(w, "equivalent commands (the eBPF programs have no command-line equivalent):")
	var cmds []string
	dev, prefix := p.Host, ""
	if p.Via == policy.ViaIFB {
		cmds = append(cmds,
			fmt.Sprintf("ip link add %s mtu %d txqueuelen %d type ifb", p.Host, pathMTU, ifbQueueLen),
			fmt.Sprintf("sysctl -w net.ipv6.conf.%s.disable_ipv6=1", p.Host),
			fmt.Sprintf("ip link set %s up", p.Host))
	} else {
		dev, prefix = p.Inner, "ip netns exec "+p.Netns+" "
		cmds = append(cmds,
			"ip netns add "+p.Netns,
			fmt.Sprintf("ip link add %s mtu %d type veth peer name %s netns %s", p.Host, pathMTU, p.Inner, p.Netns),
			fmt.Sprintf("sysctl -w net.ipv6.conf.%s.disable_ipv6=1", p.Host),
			fmt.Sprintf("%ssysctl -w net.ipv6.conf.%s.disable_ipv6=1", prefix, p.Inner),
			fmt.Sprintf("ip link set %s up", p.Host),
			fmt.Sprintf("%sip link set %s up", prefix, p.Inner))
	}
	for _, c := range j.ingress.TCCommands(dev) {
		cmds = append(cmds, prefix+c)
	}
	if p.Via == policy.ViaNetns {
		cmds = append(cmds,
			fmt.Sprintf("# %s ingress: shaper_inner (class from tc_index into priority, out of %s again)", p.Inner, p.Inner),
			fmt.Sprintf("# %s ingress: shaper_return (back into %s's ingress, marked as returned)", p.Host, j.iface.Name))
	}
	cmds = append(cmds, fmt.Sprintf("# %s ingress: shaper_classify redirects IP packets to %s, last", j.iface.Name, p.Host))
	for _, c := range cmds {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
