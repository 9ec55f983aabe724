package shaper

import (
	"errors"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab"
)

// handMade is the classic set-up people migrate from, typed with tc: an HTB
// tree with r2q, default and direct_qlen, three leaf classes with fifo
// limits, u32 filters on the root (dport, with flowid) and a clsact hook
// with a u32 filter on ingress.
var handMade = []string{
	"qdisc add dev eth0 root handle 1: htb default 30 r2q 20 direct_qlen 500",
	"class add dev eth0 parent 1: classid 1:1 htb rate 8mbit",
	"class add dev eth0 parent 1:1 classid 1:10 htb rate 4mbit ceil 8mbit prio 1",
	"class add dev eth0 parent 1:1 classid 1:20 htb rate 3mbit ceil 8mbit",
	"class add dev eth0 parent 1:1 classid 1:30 htb rate 1mbit ceil 8mbit prio 7",
	"qdisc add dev eth0 parent 1:10 handle 10: pfifo limit 40",
	"qdisc add dev eth0 parent 1:20 handle 20: bfifo limit 30000",
	"qdisc add dev eth0 parent 1:30 handle 30: pfifo limit 200",
	"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 22 0xffff flowid 1:10",
	"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:20",
	"filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip protocol 1 0xff flowid 1:10",
	"filter add dev eth0 parent 1: protocol all prio 9 bpf classid 1:30 bytecode '1,6 0 0 4294967295,'",
	"qdisc add dev eth0 clsact",
	"filter add dev eth0 ingress protocol ip prio 3 u32 match ip sport 22 0xffff classid 1:10",
	"filter add dev eth0 ingress protocol all prio 4 bpf classid 1:20 bytecode '1,6 0 0 0,'",
}

func tcLab(t *testing.T, lab *netlab.Lab, lines []string) {
	t.Helper()
	for _, l := range lines {
		// A quoted last field is one argument (classic BPF bytecode).
		args := strings.Fields(l)
		if i := strings.Index(l, "'"); i >= 0 {
			args = append(strings.Fields(l[:i]), strings.Trim(l[i:], "'"))
		}
		if out, err := lab.Exec(t.Context(), "client", append([]string{"tc"}, args...)...); err != nil {
			t.Fatalf("tc %s: %v\n%s", l, err, out)
		}
	}
}

// shaper apply, then shaper delete, puts back exactly what tc showed: every
// qdisc, class and filter, as `tc -d qdisc/class/filter show` prints them.
// With the classifier on TCX and on the clsact hook next to the user's filter.
func TestDeleteRestoresHandMadeTreeExactly(t *testing.T) {
	for _, attach := range attachModes(t) {
		t.Run(attach, func(t *testing.T) {
			lab, ns := engineLab(t)
			tcLab(t, lab, handMade)
			before := tcText(t, ns, "eth0")
			mustApply(t, mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{Attach: attach})
			if got := observe(t, ns, "eth0").state.Root; got.Kind != "htb" || got.Default != 0x10030 || got.R2Q != 10 {
				t.Fatalf("shaper's root not in place after apply: %+v", got)
			}
			if err := Delete(DeleteOptions{Netns: ns, Ifaces: []string{"eth0"}}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if after := tcText(t, ns, "eth0"); after != before {
				t.Errorf("after delete tc shows:\n%s\nbefore apply it showed:\n%s", after, before)
			}
			for _, want := range []string{"r2q 20", "direct_qlen 500", "limit 40p", "limit 30000b", "limit 200p",
				"match 00000016/0000ffff at 20", "*flowid 1:20", "match 00160000/ffff0000 at 20",
				"bytecode '1,6 0 0 4294967295'", "bytecode '1,6 0 0 0'"} {
				if !strings.Contains(before, want) {
					t.Errorf("the hand-made set-up lacks %q: the test is not testing what it claims\n%s", want, before)
				}
			}
		})
	}
}

// What shaper could not put back is refused before anything is touched:
// bad input, naming the object and what to do, no state, no programs.
func TestApplyRefusesUnrestorable(t *testing.T) {
	lab, ns := engineLab(t)
	tcLab(t, lab, []string{"qdisc add dev eth0 root handle 1: stab linklayer atm overhead 10 htb default 30"})
	before := tcText(t, ns, "eth0")
	err := Apply(mustParse(t, engPolicy, ns, "4mbit"), ApplyOptions{})
	var bad interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bad) || !bad.BadInput() {
		t.Fatalf("want a bad-input error, got %v", err)
	}
	for _, want := range []string{"qdisc htb 1: parent root has a size table", "tc qdisc del dev eth0 root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after := tcText(t, ns, "eth0"); after != before {
		t.Errorf("a refused apply changed tc state:\n%s\nwant\n%s", after, before)
	}
	if st, _ := LoadState(ns, "eth0"); st != nil {
		t.Errorf("state file written for a refused apply")
	}
	if ours := observe(t, ns, "eth0").ours(); len(ours) != 0 {
		t.Errorf("programs attached by a refused apply: %+v", ours)
	}
}
