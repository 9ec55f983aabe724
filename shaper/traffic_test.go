package shaper_test

import (
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab/labtest"
)

const sharesPolicy = `
version: 1
apps:
  - {name: web,  match: [{proto: tcp, dport: 5201}]}
  - {name: mail, match: [{proto: tcp, dport: 5202}]}
interfaces:
  - name: eth0
    netns: %s
    egress:
      rate: 100mbit
      default: other
      classes:
        - {name: web,   rate: 50%%, ceil: 100%%, apps: [web]}
        - {name: mail,  rate: 30%%, ceil: 100%%, apps: [mail]}
        - {name: other, rate: 20%%, ceil: 100%%}
`

// tol is how far a class may be from its rate: the tests measure within
// 0.4% (docs/measured.md); 1.5% leaves room for a loaded machine without
// hiding a class that lands in the wrong place.
const tol = 0.015

const (
	webID   = 0x10010
	mailID  = 0x10020
	otherID = 0x10030
)

// Three backlogged flows share 100mbit 50/30/20: each class gets its rate,
// measured on the wire by the kernel's own class byte counters; and the
// classifier's counters equal HTB's, byte for byte and packet for packet.
func TestTrafficShares(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	applyPolicy(t, lab, sharesPolicy)
	quietHTB, quietBPF := kernelState(t, lab, "eth0"), bpfClassCounters(t, lab, "eth0")
	a, b := traffic(t, lab, []int{5201, 5202, 5203}, 10, 3*time.Second, 6*time.Second)
	within(t, "web 1:10", rateBits(a, b, webID), 50e6, tol)
	within(t, "mail 1:20", rateBits(a, b, mailID), 30e6, tol)
	within(t, "other 1:30", rateBits(a, b, otherID), 20e6, tol)

	time.Sleep(500 * time.Millisecond) // queues drain
	endHTB, endBPF := kernelState(t, lab, "eth0"), bpfClassCounters(t, lab, "eth0")
	countersEqual(t, quietHTB, endHTB, quietBPF, endBPF, 1)
}

// A lone flow borrows up to its ceiling (100% of the link).
func TestTrafficBorrowsUpToCeil(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	applyPolicy(t, lab, sharesPolicy)
	a, b := traffic(t, lab, []int{5201}, 8, 2*time.Second, 5*time.Second)
	within(t, "web 1:10 alone", rateBits(a, b, webID), 100e6, tol)
	if got := rateBits(a, b, mailID) + rateBits(a, b, otherID); got > 1e5 {
		t.Errorf("idle classes sent %.0f bit/s", got)
	}
}

const tbfPolicy = `
version: 1
apps:
  - {name: web, match: [{proto: tcp, dport: 5201}]}
interfaces:
  - name: eth0
    netns: %s
    egress:
      tbf: {rate: 1024kbit, burst: 1540, latency: 50ms}
`

// A TBF root holds its rate, as `tc qdisc add dev eth0 root tbf rate
// 1024kbit latency 50ms burst 1540` would.
func TestTrafficTBF(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	applyPolicy(t, lab, tbfPolicy)
	a, b := traffic(t, lab, []int{5201}, 12, 3*time.Second, 8*time.Second)
	// A 1540-byte bucket holds one frame: a timer that fires late loses
	// the tokens it would have gathered (tc by hand does the same), so TBF
	// runs a little under its rate: -0.1% to -1.1% in 19 runs here, -1.5%
	// once in the VM on a busy machine. 2.5%, not the classes' 1.5%.
	within(t, "tbf root", rateBits(a, b, 0x10000), 1024e3, 0.025)
}
