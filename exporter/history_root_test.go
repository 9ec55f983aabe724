package exporter_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

// shaper serve samples a lab with traffic every second into its history;
// it is killed with SIGKILL during the traffic and started again on the
// same --state-dir. The history's totals per class equal exactly what the
// kernel counted from the first sample to the end (nothing is lost or
// counted twice across the kill: the classes serve's policy makes after
// its first sample count from their first byte, and a sample whose state
// was not saved is cut and counted again), and its 1 s points show the
// shaped rates.
func TestServeRecordsHistory(t *testing.T) {
	bin, lab, ns, pol := shapedLab(t, servePolicy)
	state := t.TempDir()
	dir := filepath.Join(state, "history")
	serve := func() *proc {
		port := freePort(t)
		p := start(t, "shaper serve", 2*time.Minute, bin, "serve", "--netns", ns, "--policy", pol,
			"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--state-dir", state, "--interval", "1s")
		waitFor(t, 30*time.Second, "serve's first history sample", func() bool {
			r, err := history.OpenReadOnly(dir)
			if err != nil {
				return false
			}
			_, last, ok := r.Span()
			return ok && time.Since(last) < 2*time.Second
		})
		return p
	}
	p := serve()
	c0, _ := classBytes(t, lab) // the lab is idle: what the first sample read
	const secs = 12
	for _, port := range []int{5301, 5302} {
		iperfServer(t, lab, "server", port)
	}
	clients := []*exec.Cmd{iperfClient(t, lab, "client", "198.18.0.2", 5301, secs), iperfClient(t, lab, "client", "198.18.0.2", 5302, secs)}
	// t0 is when both flows run, not when their clients were started:
	// iperf3 takes a while to connect on a slow machine (the VM's TCG).
	waitFor(t, 10*time.Second, "both flows counted", func() bool {
		c, _ := classBytes(t, lab)
		return c[0x10010]-c0[0x10010] > 100e3 && c[0x10020]-c0[0x10020] > 100e3
	})
	t0 := time.Now()
	time.Sleep(6 * time.Second)
	p.kill()
	time.Sleep(time.Second)
	serve()
	for _, c := range clients {
		if err := c.Wait(); err != nil {
			t.Errorf("iperf3 client: %v", err)
		}
	}
	time.Sleep(2500 * time.Millisecond) // two more samples after the flows
	c1, _ := classBytes(t, lab)

	r, err := history.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := r.Sum(t0.Add(-time.Minute), time.Now().Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	for class, id := range map[string]uint32{"web": 0x10010, "mail": 0x10020} {
		k := history.Key{Netns: ns, Iface: "eth0", Direction: "egress", Kind: history.KindClass, Name: class}
		got, want := float64(sums[k].Bytes), float64(c1[id]-c0[id])
		t.Logf("class %s: history %.0f bytes, kernel %.0f bytes (%+.3f%%)", class, got, want, (got-want)/want*100)
		if got != want {
			t.Errorf("class %s: history counted %.0f bytes, the kernel %.0f", class, got, want)
		}
		app := history.Key{Netns: ns, Iface: "eth0", Direction: "egress", Kind: history.KindApp, Name: class}
		if sums[app].Bytes == 0 {
			t.Errorf("app %s: nothing in the history; keys: %v", class, sums)
		}
		// The rate over 4 s of 1 s points while the flows ran: a sample
		// read late (a busy machine, the VM's TCG) moves bytes from one
		// point to the next, not out of the interval, so the 1 s points
		// are logged and their sum is checked.
		from := t0.Truncate(time.Second).Add(2 * time.Second)
		ser, err := r.Query(history.Query{From: from, To: from.Add(4 * time.Second), Step: time.Second,
			Match: func(x history.Key) bool { return x == k }})
		if err != nil || len(ser) != 1 {
			t.Fatalf("query %s: %v %v", class, ser, err)
		}
		var sum uint64
		for _, pt := range ser[0].Points {
			sum += pt.Bytes
			t.Logf("history, class %s at %s: %.3f mbit/s", class, pt.T.Format("15:04:05"), float64(pt.Bytes)*8/1e6)
		}
		within(t, fmt.Sprintf("history, class %s over %d s", class, len(ser[0].Points)),
			float64(sum)*8/float64(len(ser[0].Points)), wantBits[class])
	}
}
