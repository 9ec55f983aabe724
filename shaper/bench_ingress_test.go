package shaper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// The download benchmark (make bench): throughput through each path with
// a rate far above the link against no shaper at all, the idle RTT each
// path adds, and accuracy at 1 to 1000 mbit per path, next to the same
// shaping built by hand with tc (an IFB fed by a u32 match-all mirred).

const benchOpenPolicy = `
version: 1
interfaces:
  - name: eth0
    netns: %s
    ingress:
      via: %s
      rate: %s
`

func TestBenchIngress(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: SHAPER_BENCH=1 (make bench) runs it")
	}
	labtest.Root(t)
	fmt.Println("download throughput (iperf3 -R, 1 TCP stream, 6 s) and idle RTT (ping -i 0.01, 300 packets)")
	fmt.Printf("%-34s %12s %8s %10s %10s\n", "path", "mbit/s", "of bare", "rtt p50", "rtt p99")
	var bare float64
	for _, c := range []struct{ name, via string }{
		{"bare (no shaper)", ""},
		{"netns, rate 100gbit", policy.ViaNetns},
		{"ifb, rate 100gbit", policy.ViaIFB},
	} {
		lab := labtest.Lab(t, dlTopo)
		if c.via != "" {
			dlBenchApply(t, lab, c.via, "100gbit")
		}
		bps := dlBenchThroughput(t, lab, 5201, 6)
		if c.via == "" {
			bare = bps
		}
		p50, p99 := dlBenchRTT(t, lab)
		fmt.Printf("%-34s %12.0f %7.0f%% %10s %10s\n", c.name, bps/1e6, 100*bps/bare, p50, p99)
	}

	fmt.Println()
	fmt.Println("accuracy: one class at R, one download, the shaping qdisc's bytes over 6 s after 3 s")
	fmt.Printf("%-10s %-34s %12s %9s\n", "rate", "path", "mbit/s", "error")
	for _, r := range []struct {
		rate string
		bits float64
	}{{"1mbit", 1e6}, {"10mbit", 10e6}, {"100mbit", 100e6}, {"1000mbit", 1e9}} {
		for _, via := range []string{policy.ViaNetns, policy.ViaIFB, "by hand"} {
			lab := labtest.Lab(t, dlTopo)
			var p *shaper.PathStatus
			if via == "by hand" {
				p = dlByHand(t, lab, r.rate)
			} else {
				dlBenchApply(t, lab, via, r.rate)
				p = dlPath(t, lab)
			}
			a, b := downloads(t, lab, p, []int{5201}, 10, 3*time.Second, 6*time.Second)
			got := rateBits(a, b, 0x10001)
			name := via
			if via == "by hand" {
				name = "by hand (ifb + u32 mirred + htb)"
			}
			fmt.Printf("%-10s %-34s %12.3f %+8.2f%%\n", r.rate, name, got/1e6, 100*(got-r.bits)/r.bits)
		}
	}
}

func dlBenchApply(t *testing.T, lab *netlab.Lab, via, rate string) {
	t.Helper()
	pol, err := policy.Parse("bench.yaml", []byte(fmt.Sprintf(benchOpenPolicy, lab.Netns("client"), via, rate)))
	if err != nil {
		t.Fatal(err)
	}
	if err := shaper.Apply(pol, shaper.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shaper.Delete(shaper.DeleteOptions{Netns: lab.Netns("client")}) })
}

// dlByHand builds what shaper's ifb path does with tc alone, and returns
// it as a path for the samplers.
func dlByHand(t *testing.T, lab *netlab.Lab, rate string) *shaper.PathStatus {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "link", "add", "ifbh", "txqueuelen", "1000", "type", "ifb"},
		{"ip", "link", "set", "ifbh", "up"},
		{"tc", "qdisc", "add", "dev", "ifbh", "root", "handle", "1:", "htb", "default", "1"},
		{"tc", "class", "add", "dev", "ifbh", "parent", "1:", "classid", "1:1", "htb", "rate", rate},
		{"tc", "qdisc", "add", "dev", "eth0", "handle", "ffff:", "ingress"},
		{"tc", "filter", "add", "dev", "eth0", "parent", "ffff:", "protocol", "ip", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "redirect", "dev", "ifbh"},
	} {
		dlExec(t, lab, "client", c...)
	}
	return &shaper.PathStatus{Via: policy.ViaIFB, Device: "ifbh"}
}

// dlBenchThroughput is one download's receiver rate, from iperf3 -J.
func dlBenchThroughput(t *testing.T, lab *netlab.Lab, port, secs int) float64 {
	t.Helper()
	iperfServer(t, lab, port)
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(secs+30)*time.Second)
	defer cancel()
	out, err := lab.Command(ctx, "client", "iperf3", "-J", "-R", "-c", "198.18.0.2", "-p", strconv.Itoa(port),
		"-t", strconv.Itoa(secs)).Output()
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var r struct {
		End struct {
			Received struct {
				Bps float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("iperf3 -J: %v", err)
	}
	return r.End.Received.Bps
}

var rttRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// dlBenchRTT pings the server at idle and returns the median and p99.
func dlBenchRTT(t *testing.T, lab *netlab.Lab) (p50, p99 string) {
	t.Helper()
	out := dlExec(t, lab, "client", "ping", "-c", "300", "-i", "0.01", "198.18.0.2")
	var ms []float64
	for _, m := range rttRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		ms = append(ms, v)
	}
	if len(ms) < 250 {
		t.Fatalf("only %d replies:\n%s", len(ms), out)
	}
	slices.Sort(ms)
	q := func(f float64) string {
		return fmt.Sprintf("%.0f µs", 1000*ms[int(f*float64(len(ms)-1))])
	}
	return q(0.5), q(0.99)
}
