// Package policy is the policy document: its types, decoding (on
// internal/yamldoc, so every error has its file:line:col and quotes its
// line; tc units from internal/units) and validation. It is pure: no
// netlink, no syscalls, so every test of it runs unprivileged.
package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Policy is a decoded and validated policy v1 document.
type Policy struct {
	Version    int         `json:"version"`
	Apps       []App       `json:"apps,omitempty"`       // first match wins, in this order
	Interfaces []Interface `json:"interfaces,omitempty"` // each interface at most once per netns
}

// App is a named set of selectors; a packet belongs to the first app one of
// whose selectors matches it.
type App struct {
	Name  string     `json:"name"`
	Match []Selector `json:"match"` // ORed
	Quota *Quota     `json:"quota,omitempty"`
	Pos   Pos        `json:"-"`
	// NamePos is where the name is written (duplicate-name errors point there).
	NamePos Pos `json:"-"`
}

// Selector fields are ANDed; an empty field matches anything.
type Selector struct {
	Protos  []uint8        `json:"proto,omitempty"` // IP protocol numbers (tcp=6, udp=17, icmp=1, sctp=132, icmpv6=58)
	Ports   []PortRange    `json:"port,omitempty"`  // source OR destination port
	SPorts  []PortRange    `json:"sport,omitempty"`
	DPorts  []PortRange    `json:"dport,omitempty"`
	Src     []netip.Prefix `json:"src,omitempty"` // masked prefixes, v4 or v6
	Dst     []netip.Prefix `json:"dst,omitempty"`
	Process string         `json:"process,omitempty"`
	Cgroup  string         `json:"cgroup,omitempty"`
	Pos     Pos            `json:"-"`
}

// PortRange is an inclusive range; a single port has Lo == Hi.
type PortRange struct {
	Lo uint16 `json:"lo"`
	Hi uint16 `json:"hi"`
}

// Interface is the shaping of one network interface.
type Interface struct {
	Name    string     `json:"name"`
	Netns   string     `json:"netns,omitempty"` // named netns (ip netns add); "" = the caller's
	Egress  *Direction `json:"egress,omitempty"`
	Ingress *Direction `json:"ingress,omitempty"`
	Pos     Pos        `json:"-"`
	NamePos Pos        `json:"-"`
}

// Direction is one direction of an interface. With neither Rate nor TBF it
// is monitor-only: classified and counted, not shaped.
type Direction struct {
	Rate    Rate    `json:"rate,omitzero"` // HTB root rate; Bits resolved
	Default string  `json:"default,omitempty"`
	Classes []Class `json:"classes,omitempty"`
	TBF     *TBF    `json:"tbf,omitempty"`
	Via     string  `json:"via,omitempty"` // ingress only: "netns" (filled in when not given) or "ifb"
	Pos     Pos     `json:"-"`
	// DefaultPos is where default is written; zero when it is not.
	DefaultPos Pos `json:"-"`
}

// Shaped reports whether the direction installs a qdisc.
func (d *Direction) Shaped() bool { return d != nil && (d.Rate.Bits > 0 || d.TBF != nil) }

// Rate is a bandwidth, absolute or a percentage of the parent's. After
// validation Bits holds the resolved absolute rate in bits per second.
type Rate struct {
	Bits    uint64  `json:"bits"`              // bits per second (resolved)
	Percent float64 `json:"percent,omitempty"` // as written, when given as "50%"
	Set     bool    `json:"-"`                 // present in the file
	Pos     Pos     `json:"-"`                 // where the value is written
}

// Class is an HTB class; classes nest.
type Class struct {
	Name    string   `json:"name"`
	Rate    Rate     `json:"rate"`
	Ceil    Rate     `json:"ceil"`              // defaults to the parent's ceil (root: root rate)
	Prio    int      `json:"prio,omitempty"`    // 0..7, lower is served first
	Burst   uint32   `json:"burst,omitempty"`   // bytes; 0 = sized from the rate by the planner
	CBurst  uint32   `json:"cburst,omitempty"`  // bytes; 0 = sized from the ceil
	Quantum uint32   `json:"quantum,omitempty"` // bytes; 0 = sized by the planner
	Apps    []string `json:"apps,omitempty"`    // leaf classes only
	Classes []Class  `json:"classes,omitempty"` // children
	Pos     Pos      `json:"-"`
	NamePos Pos      `json:"-"`
	AppsPos []Pos    `json:"-"` // where each of Apps is written, in the same order
}

// Leaf reports whether the class has no children: only leaves take apps
// and carry traffic.
func (c *Class) Leaf() bool { return len(c.Classes) == 0 }

// TBF is a token bucket filter root qdisc, as in
// `tc qdisc add dev eth0 root tbf rate 1024kbit latency 50ms burst 1540`.
type TBF struct {
	Rate    uint64        `json:"rate"`              // bits per second
	Burst   uint32        `json:"burst"`             // bytes
	Latency time.Duration `json:"latency,omitempty"` // or Limit
	Limit   uint32        `json:"limit,omitempty"`   // bytes; derived from latency when 0
	Peak    uint64        `json:"peakrate,omitempty"`
	MTU     uint32        `json:"mtu,omitempty"`
	Pos     Pos           `json:"-"`
}

// selectorJSON hides Selector's methods so that encoding it does not recurse.
type selectorJSON Selector

// MarshalJSON writes protocols as numbers: a []uint8 would otherwise come out
// as base64.
func (s Selector) MarshalJSON() ([]byte, error) {
	protos := make([]int, len(s.Protos))
	for i, p := range s.Protos {
		protos[i] = int(p)
	}
	return json.Marshal(struct {
		Protos []int `json:"proto,omitempty"`
		selectorJSON
	}{protos, selectorJSON(s)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Selector) UnmarshalJSON(data []byte) error {
	var v struct {
		Protos []uint16 `json:"proto,omitempty"`
		*selectorJSON
	}
	v.selectorJSON = (*selectorJSON)(s)
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	s.Protos = nil
	for _, p := range v.Protos {
		if p > 255 {
			return fmt.Errorf("protocol number %d is out of range", p)
		}
		s.Protos = append(s.Protos, uint8(p))
	}
	return nil
}
