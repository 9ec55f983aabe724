package policy

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Version is the policy format this package reads.
const Version = 1

// protoNames are the protocol names a selector accepts (IANA numbers).
var protoNames = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}

// portProtos carry ports: a port selector on any other protocol never matches.
var portProtos = map[uint8]bool{6: true, 17: true, 132: true, 136: true} // 136 = udplite

// nameRE is the shape of app and class names: they become metric labels and
// CLI arguments, so keep them plain.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const nameHint = "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"

// maxComm is the longest process name the kernel keeps (TASK_COMM_LEN - 1).
const maxComm = 15

func (d *decoder) policy(root *yamldoc.Node) *Policy {
	p := &Policy{}
	f, ok := d.Mapping(root, "the policy", "version", "apps", "interfaces")
	if !ok {
		return p
	}
	if v := f.Get("version"); v == nil {
		d.Fail(f.Node, `add "version: 1" at the top`, "the policy has no version")
	} else if n, ok := d.Int(v, "version"); ok {
		p.Version = int(n)
		if n != Version {
			d.Fail(v, fmt.Sprintf("this shaper reads version %d", Version), "unsupported policy version %d", n)
		}
	}
	for _, it := range d.List(f.Get("apps"), "apps") {
		p.Apps = append(p.Apps, d.app(it))
	}
	for _, it := range d.List(f.Get("interfaces"), "interfaces") {
		p.Interfaces = append(p.Interfaces, d.iface(it))
	}
	return p
}

// name decodes a required app or class name.
func (d *decoder) name(f yamldoc.Fields, what string) (string, Pos) {
	v := f.Get("name")
	if v == nil {
		d.Fail(f.Node, `add "name: ..."`, "%s needs a name", what)
		return "", Pos{}
	}
	s, ok := d.Str(v, what+" name")
	if !ok {
		return "", d.Pos(v)
	}
	if !nameRE.MatchString(s) {
		d.Fail(v, nameHint, "invalid %s name %q", what, s)
		return "", d.Pos(v)
	}
	return s, d.Pos(v)
}

func (d *decoder) app(n *yamldoc.Node) App {
	a := App{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, "an app", "name", "match", "quota")
	if !ok {
		return a
	}
	a.Name, a.NamePos = d.name(f, "app")
	m := f.Get("match")
	if m == nil {
		d.Fail(f.Node, `add e.g. "match: {proto: tcp, dport: 443}"`, "app %q has no match", a.Name)
		return a
	}
	for _, it := range d.oneOrMany(m, "match") {
		a.Match = append(a.Match, d.selector(it))
	}
	if q := f.Get("quota"); q != nil {
		a.Quota = d.quota(q)
	}
	return a
}

func (d *decoder) selector(n *yamldoc.Node) Selector {
	s := Selector{Pos: d.Pos(n)}
	f, ok := d.Mapping(n, "a selector", "proto", "port", "sport", "dport", "src", "dst", "process", "cgroup")
	if !ok {
		return s
	}
	if len(f.Entries) == 0 {
		d.Fail(n, "put that traffic in the default class instead of naming an app for it",
			"this selector has no fields, so it would match every packet")
		return s
	}
	if v := f.Get("proto"); v != nil {
		for _, it := range d.oneOrMany(v, "proto") {
			if p, ok := d.proto(it); ok {
				s.Protos = append(s.Protos, p)
			}
		}
	}
	s.Ports = d.ports(f.Get("port"), "port")
	s.SPorts = d.ports(f.Get("sport"), "sport")
	s.DPorts = d.ports(f.Get("dport"), "dport")
	s.Src = d.prefixes(f.Get("src"), "src")
	s.Dst = d.prefixes(f.Get("dst"), "dst")
	if v := f.Get("process"); v != nil {
		s.Process = d.process(v)
	}
	if v := f.Get("cgroup"); v != nil {
		s.Cgroup = d.cgroup(v)
	}
	d.selectorSense(f, &s)
	return s
}

// selectorSense reports selectors that can never match anything.
func (d *decoder) selectorSense(f yamldoc.Fields, s *Selector) {
	if len(s.Protos) > 0 && (len(s.Ports) > 0 || len(s.SPorts) > 0 || len(s.DPorts) > 0) {
		carries := false
		for _, p := range s.Protos {
			carries = carries || portProtos[p]
		}
		if !carries {
			for _, k := range []string{"port", "sport", "dport"} {
				if v := f.Get(k); v != nil {
					d.Fail(v, "ports exist only for tcp, udp and sctp", "%s can never match: proto %s has no ports", k, protoList(s.Protos))
					break
				}
			}
		}
	}
	if len(s.Src) > 0 && len(s.Dst) > 0 && !sharesFamily(s.Src, s.Dst) {
		d.Fail(f.Get("dst"), "src and dst must include prefixes of the same family (IPv4 or IPv6)",
			"this selector can never match: src and dst are of different address families")
	}
}

func protoList(ps []uint8) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = strconv.Itoa(int(p))
		for n, v := range protoNames {
			if v == p {
				names[i] = n
			}
		}
	}
	return strings.Join(names, ", ")
}

func sharesFamily(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Addr().Is4() == y.Addr().Is4() {
				return true
			}
		}
	}
	return false
}

func (d *decoder) proto(n *yamldoc.Node) (uint8, bool) {
	const hint = "use tcp, udp, icmp, icmpv6, sctp or a protocol number 0-255"
	if n.Kind == yamldoc.Scalar && n.Tag == yamldoc.TagInt {
		v, ok := d.Int(n, "proto")
		if ok && (v < 0 || v > 255) {
			d.Fail(n, hint, "protocol number %d is out of range", v)
			return 0, false
		}
		return uint8(v), ok
	}
	s, ok := d.Str(n, "proto")
	if !ok {
		return 0, false
	}
	if p, ok := protoNames[strings.ToLower(s)]; ok {
		return p, true
	}
	if v, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(v), true
	}
	h := hint
	names := []string{"tcp", "udp", "icmp", "icmpv6", "sctp"}
	if sug := yamldoc.Suggest(s, names); sug != "" {
		h = fmt.Sprintf("did you mean %q? ", sug) + hint
	}
	d.Fail(n, h, "unknown protocol %q", s)
	return 0, false
}

// ports decodes "80", 80, "8000-8100" or a list of them; absent is nil.
func (d *decoder) ports(n *yamldoc.Node, what string) []PortRange {
	if n == nil {
		return nil
	}
	var out []PortRange
	for _, it := range d.oneOrMany(n, what) {
		if r, ok := d.portRange(it, what); ok {
			out = append(out, r)
		}
	}
	return out
}

func (d *decoder) portRange(n *yamldoc.Node, what string) (PortRange, bool) {
	const hint = "a port is 1-65535; a range is written \"8000-8100\""
	s, ok := d.text(n, what)
	if !ok {
		return PortRange{}, false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	switch {
	case err1 != nil || err2 != nil:
		d.Fail(n, hint, "invalid %s %q", what, s)
	case l == 0 || h == 0 || l > 65535 || h > 65535:
		d.Fail(n, hint, "%s %q is out of range", what, s)
	case l > h:
		d.Fail(n, fmt.Sprintf("write it low to high: \"%d-%d\"", h, l), "%s range %q is backwards", what, s)
	default:
		return PortRange{Lo: uint16(l), Hi: uint16(h)}, true
	}
	return PortRange{}, false
}

// prefixes decodes CIDRs or addresses (an address is a /32 or /128).
func (d *decoder) prefixes(n *yamldoc.Node, what string) []netip.Prefix {
	if n == nil {
		return nil
	}
	var out []netip.Prefix
	for _, it := range d.oneOrMany(n, what) {
		s, ok := d.Str(it, what)
		if !ok {
			continue
		}
		if p, ok := d.prefix(it, s, what); ok {
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) prefix(n *yamldoc.Node, s, what string) (netip.Prefix, bool) {
	const hint = "write a CIDR like 198.18.0.0/15 or fd00::/8, or an address"
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			d.Fail(n, hint, "invalid %s address %q", what, s)
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.Fail(n, hint, "invalid %s prefix %q", what, s)
		return netip.Prefix{}, false
	}
	if m := p.Masked(); m != p {
		d.Fail(n, fmt.Sprintf("did you mean %s?", m), "%s prefix %q has host bits set", what, s)
		return netip.Prefix{}, false
	}
	return p, true
}

func (d *decoder) process(n *yamldoc.Node) string {
	s, ok := d.Str(n, "process")
	if !ok {
		return ""
	}
	if s == "" || len(s) > maxComm {
		d.Fail(n, fmt.Sprintf("the kernel knows a process by its command name (comm), at most %d bytes: see /proc/PID/comm", maxComm),
			"invalid process name %q", s)
		return ""
	}
	return s
}

func (d *decoder) cgroup(n *yamldoc.Node) string {
	s, ok := d.Str(n, "cgroup")
	if !ok {
		return ""
	}
	if !strings.HasPrefix(s, "/") || strings.ContainsRune(s, 0) {
		d.Fail(n, "write the path from the cgroup root, like /system.slice/backup.service", "cgroup %q is not an absolute path", s)
		return ""
	}
	return path.Clean(s)
}
