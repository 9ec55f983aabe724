package exporter_test

import (
	"fmt"
	"testing"
	"time"
)

// An app matched on its process: the host records socket owners, so the
// flows carry their comm.
const processPolicy = `version: 1
apps:
  - {name: bulk, match: [{process: iperf3, proto: tcp, dport: 5303}]}
interfaces:
  - name: eth0
    egress:
      rate: 100mbit
      default: other
      classes:
        - {name: bulk,  rate: 20mbit, ceil: 20mbit, apps: [bulk]}
        - {name: other, rate: 10mbit, ceil: 100mbit}
    ingress: {}
`

// processTol: per-process totals are a lower bound of the app's (flows
// evicted between samples lose their last interval); here nothing is
// evicted and they agree within 1%.
const processTol = 0.01

// `shaper serve` samples every second while iperf3 uploads for 10 s;
// `shaper report --by process` then tells the iperf3 process's upload,
// which is all of the app's (the app matches that process only): within
// 1% of the app's total and never above it.
func TestReportByProcess(t *testing.T) {
	bin, lab, ns, pol := shapedLab(t, processPolicy)
	state := t.TempDir()
	port := freePort(t)
	start(t, "shaper serve", 3*time.Minute, bin, "serve", "--netns", ns, "--policy", pol, "--state-dir", state,
		"--interval", "1s", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 30*time.Second, "shaper serve answering /healthz", func() bool {
		code, _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return err == nil && code == 200
	})
	time.Sleep(1500 * time.Millisecond) // the first sample (a baseline) is taken
	iperfServer(t, lab, "server", 5303)
	client := iperfClient(t, lab, "client", "198.18.0.2", 5303, 10)
	if err := client.Wait(); err != nil {
		t.Fatalf("iperf3 client: %v", err)
	}
	time.Sleep(2500 * time.Millisecond) // two samples after the last packet
	kernel := kernelAppBytes(t, ns)

	args := []string{"--state-dir", state, "--netns", ns, "--since", "1h", "--direction", "up"}
	app := group(t, reportJSON(t, bin, append(args, "--by", "app")...), "bulk")
	r := reportJSON(t, bin, append(args, "--by", "process")...)
	if r.By != "process" || r.Note == "" {
		t.Errorf("by %q, note %q", r.By, r.Note)
	}
	proc := group(t, r, "iperf3")
	t.Logf("upload: kernel app bulk %d, report app bulk %d, report process iperf3 %d (%+.3f%%); groups %d",
		kernel["bulk"], app.Bytes, proc.Bytes, (float64(proc.Bytes)/float64(app.Bytes)-1)*100, len(r.Groups))
	if proc.Bytes > app.Bytes {
		t.Errorf("process iperf3 %d bytes, above its app's %d", proc.Bytes, app.Bytes)
	}
	agree(t, "report up bytes: process iperf3 vs app bulk", float64(proc.Bytes), float64(app.Bytes), processTol)
	if app.Bytes < 5_000_000 {
		t.Errorf("app bulk uploaded %d bytes in 10 s at 20 Mbit/s", app.Bytes)
	}
}
