package shaper_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
	"github.com/shaperdev/shaper/shaper/plan"
)

// Downloads (docs/downloads.md): the client's eth0 ingress is shaped
// through a shaping namespace or an IFB device; iperf3 -R sends from the
// server to the client.

const dlTopo = `
name: dl
nodes: {client: {}, server: {}}
links:
  - endpoints:
      - {node: client, iface: eth0, addresses: [198.18.0.1/24, "fd00:0:0:8::1/64"]}
      - {node: server, iface: eth0, addresses: [198.18.0.2/24, "fd00:0:0:8::2/64"]}
`

const dlTBFPolicy = `
version: 1
interfaces:
  - name: eth0
    netns: %s
    ingress:
      via: %s
      tbf: {rate: 1024kbit, burst: 1540, latency: 50ms}
`

const dlSharesPolicy = `
version: 1
apps:
  - {name: web,  match: [{proto: tcp, dport: 5201}]}
  - {name: mail, match: [{proto: tcp, dport: 5202}]}
interfaces:
  - name: eth0
    netns: %s
    ingress:
      via: %s
      rate: 20mbit
      default: other
      classes:
        - {name: web,   rate: 50%%, ceil: 100%%, apps: [web]}
        - {name: mail,  rate: 30%%, ceil: 100%%, apps: [mail]}
        - {name: other, rate: 20%%, ceil: 100%%}
`

// dlCountPolicy shapes the client's downloads and counts the server's
// uploads (its egress, monitor-only): the two counts must agree.
const dlCountPolicy = `
version: 1
interfaces:
  - name: eth0
    netns: %s
    ingress:
      via: %s
      tbf: {rate: 1024kbit, burst: 1540, latency: 50ms}
  - name: eth0
    netns: %s
    egress: {}
`

// dlTol: ±2% on the wire, as the issue asks.
const dlTol = 0.02

var vias = []string{policy.ViaNetns, policy.ViaIFB}

// dlVia skips an ifb test where the kernel drops bpf_redirect into an IFB
// (before 6.4): apply refuses via: ifb there (TestIngressIFBRefused).
func dlVia(t *testing.T, via string) {
	t.Helper()
	if p := loader.ProbeIFBRedirect(); via == policy.ViaIFB && !p.Supported {
		t.Skipf("via ifb: %s", p.Reason)
	}
}

// Where bpf_redirect into an IFB is dropped, apply refuses via: ifb as
// bad input and leaves the interface alone; elsewhere it is accepted.
func TestIngressIFBRefused(t *testing.T) {
	lab := labtest.Lab(t, dlTopo)
	pol, err := policy.Parse("ifb.yaml", []byte(fmt.Sprintf(dlTBFPolicy, lab.Netns("client"), policy.ViaIFB)))
	if err != nil {
		t.Fatal(err)
	}
	err = shaper.Apply(pol, shaper.ApplyOptions{})
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}) })
	p := loader.ProbeIFBRedirect()
	t.Logf("probe: %+v; apply: %v", p, err)
	if p.Supported != (err == nil) {
		t.Fatalf("probe says %v, apply says %v", p.Supported, err)
	}
	if err != nil && !strings.Contains(err.Error(), "use via: netns") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

// dlApply applies text (the client's namespace and via filled in, and the
// server's namespace where the text has a third %s) and deletes it at
// cleanup.
func dlApply(t *testing.T, lab *netlab.Lab, text, via, attach string) {
	t.Helper()
	ns := lab.Netns("client")
	args := []any{ns, via}
	if strings.Count(text, "%s") == 3 {
		args = append(args, lab.Netns("server"))
	}
	pol, err := policy.Parse(t.Name()+".yaml", []byte(fmt.Sprintf(text, args...)))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	if err := shaper.Apply(pol, shaper.ApplyOptions{Attach: attach}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() {
		// Each namespace of ours by name: other tests may run at once.
		for _, node := range []string{"client", "server"} {
			if err := shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns(node)}); err != nil {
				t.Errorf("delete: %v", err)
			}
		}
	})
}

// dlPath is the client eth0's download path as `shaper status` shows it.
func dlPath(t *testing.T, lab *netlab.Lab) *shaper.PathStatus {
	t.Helper()
	r, err := shaper.Status(shaper.StatusOptions{Netns: lab.Netns("client")})
	if err != nil || len(r.Interfaces) < 1 || r.Interfaces[0].Path == nil {
		t.Fatalf("status: %v %+v", err, r)
	}
	return r.Interfaces[0].Path
}

// shapingState reads the shaping device's qdisc tree and when.
func shapingState(t *testing.T, lab *netlab.Lab, p *shaper.PathStatus) (*plan.KernelState, time.Time) {
	t.Helper()
	ns, dev := lab.Netns("client"), p.Device
	if p.Via == policy.ViaNetns {
		ns, dev = p.Netns, p.Inner
	}
	var st *plan.KernelState
	var at time.Time
	err := labtest.In(ns, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		link, err := h.LinkByName(dev)
		if err != nil {
			return err
		}
		t0 := time.Now()
		st, err = shaper.ReadState(h, link)
		at = t0.Add(time.Since(t0) / 2)
		return err
	})
	if err != nil {
		t.Fatalf("read %s in %s: %v", dev, ns, err)
	}
	return st, at
}

func shapingSample(t *testing.T, lab *netlab.Lab, p *shaper.PathStatus) sample {
	st, at := shapingState(t, lab, p)
	s := sample{at: at, bytes: map[uint32]uint64{}}
	for _, c := range st.Classes {
		s.bytes[c.ClassID] = c.Stats.Bytes
	}
	if st.Root != nil {
		s.bytes[st.Root.Handle] = st.Root.Stats.Bytes
	}
	return s
}

// download starts iperf3 -R (the server sends) for secs seconds.
func download(t *testing.T, lab *netlab.Lab, addr string, port, secs int) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	t.Cleanup(cancel)
	c := &client{port: port, out: &bytes.Buffer{}, cmd: lab.Command(ctx, "client",
		"iperf3", "-R", "-c", addr, "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs))}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start iperf3 client: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("iperf3 -R from port %d:\n%s", port, c.out)
		}
	})
	return c
}

// downloads runs one download per port and samples the shaping device's
// counters after warm and again window later.
func downloads(t *testing.T, lab *netlab.Lab, p *shaper.PathStatus, ports []int, secs int, warm, window time.Duration) (a, b sample) {
	t.Helper()
	var cs []*client
	for _, port := range ports {
		iperfServer(t, lab, port)
	}
	for _, port := range ports {
		cs = append(cs, download(t, lab, "198.18.0.2", port, secs))
	}
	time.Sleep(warm)
	a = shapingSample(t, lab, p)
	time.Sleep(window)
	b = shapingSample(t, lab, p)
	for _, c := range cs {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("iperf3 -R from port %d: %v\n%s", c.port, err, c.out)
		}
	}
	return a, b
}

// An ingress TBF holds 1024kbit on the wire, via netns and via ifb.
func TestIngressTBF(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			dlVia(t, via)
			lab := labtest.Lab(t, dlTopo)
			dlApply(t, lab, dlTBFPolicy, via, "")
			p := dlPath(t, lab)
			if !p.Complete {
				t.Fatalf("path incomplete after apply: %v", p.Missing)
			}
			a, b := downloads(t, lab, p, []int{5201}, 14, 3*time.Second, 10*time.Second)
			within(t, "ingress tbf via "+via, rateBits(a, b, plan.RootHandle), 1_024_000, dlTol)
		})
	}
}

// Three concurrent downloads share an ingress HTB 50/30/20.
func TestIngressShares(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			dlVia(t, via)
			lab := labtest.Lab(t, dlTopo)
			dlApply(t, lab, dlSharesPolicy, via, "")
			p := dlPath(t, lab)
			a, b := downloads(t, lab, p, []int{5201, 5202, 5203}, 12, 3*time.Second, 7*time.Second)
			within(t, "web 1:10", rateBits(a, b, webID), 10e6, dlTol)
			within(t, "mail 1:20", rateBits(a, b, mailID), 6e6, dlTol)
			within(t, "other 1:30", rateBits(a, b, otherID), 4e6, dlTol)
		})
	}
}

const dlBothPolicy = `
version: 1
interfaces:
  - name: eth0
    netns: %s
    egress:
      tbf: {rate: 2048kbit, burst: 1540, latency: 50ms}
    ingress:
      via: %s
      tbf: {rate: 1024kbit, burst: 1540, latency: 50ms}
`

// Upload and download shaped at once on one interface keep their rates.
// UDP flows offered above each rate keep both queues backlogged: with TCP
// each direction's ACKs wait in the other direction's FIFO behind its
// data (a property of a single TBF queue, measured: −4% to −6% both ways),
// which would test TCP's ACK clock, not the shaper.
func TestIngressWithEgress(t *testing.T) {
	lab := labtest.Lab(t, dlTopo)
	dlApply(t, lab, dlBothPolicy, policy.ViaNetns, "")
	p := dlPath(t, lab)
	iperfServer(t, lab, 5201)
	iperfServer(t, lab, 5202)
	up := udpFlow(t, lab, 5202, 14, "4M", false)
	dn := udpFlow(t, lab, 5201, 14, "2M", true)
	time.Sleep(3 * time.Second)
	ua, da := readSample(t, lab, "eth0"), shapingSample(t, lab, p)
	time.Sleep(10 * time.Second)
	ub, db := readSample(t, lab, "eth0"), shapingSample(t, lab, p)
	for _, c := range []*client{up, dn} {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("iperf3 port %d: %v\n%s", c.port, err, c.out)
		}
	}
	within(t, "upload", rateBits(ua, ub, plan.RootHandle), 2_048_000, dlTol)
	within(t, "download", rateBits(da, db, plan.RootHandle), 1_024_000, dlTol)
}

// udpFlow offers rate of UDP from the client (or, reverse, to it).
func udpFlow(t *testing.T, lab *netlab.Lab, port, secs int, rate string, reverse bool) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	t.Cleanup(cancel)
	argv := []string{"iperf3", "-u", "-b", rate, "-l", "1400", "-c", "198.18.0.2", "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs)}
	if reverse {
		argv = append(argv, "-R")
	}
	c := &client{port: port, out: &bytes.Buffer{}, cmd: lab.Command(ctx, "client", argv...)}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start iperf3: %v", err)
	}
	return c
}

// dlLinkStats reads a node's eth0 counters.
func dlLinkStats(t *testing.T, lab *netlab.Lab, node string) *netlink.LinkStatistics {
	t.Helper()
	var s *netlink.LinkStatistics
	err := labtest.In(lab.Netns(node), func() error {
		l, err := netlink.LinkByName("eth0")
		if err == nil {
			s = l.Attrs().Statistics
		}
		return err
	})
	if err != nil {
		t.Fatalf("eth0 of %s: %v", node, err)
	}
	return s
}

func dlExec(t *testing.T, lab *netlab.Lab, node string, argv ...string) string {
	t.Helper()
	out, err := lab.Exec(t.Context(), node, argv...)
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s", strings.Join(argv, " "), node, err, out)
	}
	return string(out)
}

// nftBytes reads the byte count of the client's iifname eth0 counter rule.
func nftBytes(t *testing.T, lab *netlab.Lab) uint64 {
	t.Helper()
	out := dlExec(t, lab, "client", "nft", "list", "chain", "inet", "dltest", "in")
	i := strings.Index(out, "bytes ")
	if i < 0 {
		t.Fatalf("no counter in:\n%s", out)
	}
	var n uint64
	fmt.Sscanf(out[i+len("bytes "):], "%d", &n)
	return n
}

// With downloads shaped, everything else keeps working: ping (v4 and v6,
// so ARP and neighbour discovery), a TCP connection opened after apply,
// an nftables iifname rule, ip -s link counting once; the classifier's
// ingress bytes equal the peer's egress bytes. Delete leaves nothing.
func TestIngressPathKeepsHostWorking(t *testing.T) {
	for _, mode := range dlAttachModes(t) {
		for _, via := range vias {
			t.Run(mode+"/"+via, func(t *testing.T) {
				dlVia(t, via)
				lab := labtest.Lab(t, dlTopo)
				waitFor(t, 10*time.Second, "ipv6 ping before apply", func() bool {
					_, err := lab.Exec(t.Context(), "client", "ping", "-6", "-c1", "-W1", "fd00:0:0:8::2")
					return err == nil
				})
				dlExec(t, lab, "client", "nft", "add table inet dltest; add chain inet dltest in { type filter hook input priority 0; }; "+
					"add rule inet dltest in iifname eth0 tcp sport 5201 counter")
				dlApply(t, lab, dlCountPolicy, via, mode)
				if p := dlPath(t, lab); !p.Complete {
					t.Fatalf("path incomplete: %v", p.Missing)
				}
				// Neighbours forgotten: ARP and ND must run through the shaper.
				dlExec(t, lab, "client", "ip", "neigh", "flush", "all")
				dlExec(t, lab, "server", "ip", "neigh", "flush", "all")
				dlExec(t, lab, "client", "ping", "-c3", "-i0.2", "-W2", "198.18.0.2")
				dlExec(t, lab, "client", "ping", "-6", "-c3", "-i0.2", "-W2", "fd00:0:0:8::2")

				c0, s0 := dlLinkStats(t, lab, "client"), dlLinkStats(t, lab, "server")
				in0, out0 := dlAppBytes(t, lab, "client", loader.Ingress), dlAppBytes(t, lab, "server", loader.Egress)
				iperfServer(t, lab, 5201)
				dn := download(t, lab, "198.18.0.2", 5201, 3)
				if err := dn.cmd.Wait(); err != nil {
					t.Fatalf("download: %v\n%s", err, dn.out)
				}
				time.Sleep(300 * time.Millisecond)
				c1, s1 := dlLinkStats(t, lab, "client"), dlLinkStats(t, lab, "server")
				in1, out1 := dlAppBytes(t, lab, "client", loader.Ingress), dlAppBytes(t, lab, "server", loader.Egress)
				rx, tx := c1.RxBytes-c0.RxBytes, s1.TxBytes-s0.TxBytes
				t.Logf("ip -s link: client rx %d bytes, server tx %d; classifiers: client ingress %+v, server egress %+v",
					rx, tx, sub(in1, in0), sub(out1, out0))
				if rx != tx {
					t.Errorf("ip -s link: client eth0 received %d bytes, the server sent %d: must count once", rx, tx)
				}
				if sub(in1, in0) != sub(out1, out0) {
					t.Errorf("client ingress counted %+v, the server's egress %+v: must be equal", sub(in1, in0), sub(out1, out0))
				}
				if n := nftBytes(t, lab); n < 100_000 {
					t.Errorf("nftables iifname eth0 counted %d bytes of the download", n)
				}
				p := dlPath(t, lab)
				if err := shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}); err != nil {
					t.Fatal(err)
				}
				assertNothingLeft(t, lab, p)
			})
		}
	}
}

// dlAttachModes: tcx and tc where TCX exists, tc elsewhere.
func dlAttachModes(t *testing.T) []string {
	labtest.Root(t)
	if loader.ProbeTCX().Supported {
		return []string{loader.ModeTCX, loader.ModeTC}
	}
	return []string{loader.ModeTC}
}

// assertNothingLeft checks that nothing of shaper's is left of client eth0
// and its download path p: namespace, devices, qdiscs, programs, pins.
func assertNothingLeft(t *testing.T, lab *netlab.Lab, p *shaper.PathStatus) {
	t.Helper()
	if p.Netns != "" && netns.Exists(p.Netns) {
		t.Errorf("shaping namespace %s is left", p.Netns)
	}
	err := labtest.In(lab.Netns("client"), func() error {
		if _, err := netlink.LinkByName(p.Device); err == nil {
			t.Errorf("device %s is left", p.Device)
		}
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		hooks, err := loader.List(l.Attrs().Index, "shaper_")
		if err != nil {
			return err
		}
		for _, h := range hooks {
			t.Errorf("program left on eth0: %+v", h)
		}
		qs, err := netlink.QdiscList(l)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Type() != "noqueue" {
				t.Errorf("qdisc %s left on eth0", q.Type())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(loader.IfaceDir(lab.Netns("client"), "eth0")); err == nil {
		t.Errorf("pins left in %s", loader.IfaceDir(lab.Netns("client"), "eth0"))
	}
}

// dlAppBytes sums a node's eth0 classifier app counters of one direction.
func dlAppBytes(t *testing.T, lab *netlab.Lab, node string, dir loader.Direction) loader.Counter {
	t.Helper()
	_, apps, err := loader.ReadCounters(loader.PinDir(lab.Netns(node), "eth0", dir))
	if err != nil {
		t.Fatalf("counters of %s %s: %v", node, dir, err)
	}
	var sum loader.Counter
	for _, c := range apps {
		sum.Bytes += c.Bytes
		sum.Packets += c.Packets
	}
	return sum
}

func sub(a, b loader.Counter) loader.Counter {
	return loader.Counter{Bytes: a.Bytes - b.Bytes, Packets: a.Packets - b.Packets}
}

// Applying the same policy again keeps the path and its queue (the
// shaping qdisc's counters keep counting: nothing was rebuilt) and the
// classifier on eth0's ingress; the path stays complete.
func TestIngressReapplyKeepsPath(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			dlVia(t, via)
			lab := labtest.Lab(t, dlTopo)
			dlApply(t, lab, dlSharesPolicy, via, "")
			p := dlPath(t, lab)
			dlExec(t, lab, "client", "ping", "-c3", "-i0.2", "198.18.0.2")
			before, _ := shapingState(t, lab, p)
			hooks := dlIngressHook(t, lab)
			st0, err := shaper.LoadState(lab.Netns("client"), "eth0")
			if err != nil {
				t.Fatal(err)
			}
			pol, err := policy.Parse("again.yaml", []byte(fmt.Sprintf(dlSharesPolicy, lab.Netns("client"), via)))
			if err != nil {
				t.Fatal(err)
			}
			if err := shaper.Apply(pol, shaper.ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			after, _ := shapingState(t, lab, p)
			st1, err := shaper.LoadState(lab.Netns("client"), "eth0")
			if err != nil {
				t.Fatal(err)
			}
			if via == policy.ViaNetns && (st0.PathPrograms == nil || *st0.PathPrograms != *st1.PathPrograms) {
				t.Errorf("the shaping namespace's programs %+v became %+v on a no-op apply", st0.PathPrograms, st1.PathPrograms)
			}
			if got := dlIngressHook(t, lab); got != hooks {
				t.Errorf("eth0 ingress program %d replaced by %d on a no-op apply", hooks, got)
			}
			b, _ := before.Class(otherID)
			a, _ := after.Class(otherID)
			if b.Stats.Packets == 0 || a.Stats.Packets < b.Stats.Packets {
				t.Errorf("default class counted %d packets before, %d after: the queue was rebuilt", b.Stats.Packets, a.Stats.Packets)
			}
			if p2 := dlPath(t, lab); !p2.Complete || p2.Device != p.Device {
				t.Errorf("path after re-apply: %+v (before %+v)", p2, p)
			}
		})
	}
}

// dlIngressHook is the id of the program on the client eth0's ingress.
func dlIngressHook(t *testing.T, lab *netlab.Lab) uint32 {
	t.Helper()
	r, err := shaper.Status(shaper.StatusOptions{Netns: lab.Netns("client")})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range r.Interfaces[0].Hooks {
		if h.Dir == loader.Ingress && h.Ours {
			return uint32(h.ProgID)
		}
	}
	t.Fatal("no program of ours on eth0 ingress")
	return 0
}
