package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// TestMain runs the CLI itself when a test starts this test binary as
// shaper (in tmux): no toolchain needed where the tests run (the VM).
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const runMainEnv = "SHAPER_TEST_RUN_MAIN"

// tmuxShaper is the tmux new-session arguments that run shaper with args.
func tmuxShaper(args ...string) []string {
	return append([]string{"-e", runMainEnv + "=1", os.Args[0]}, args...)
}

// requireComm makes the top test insist on the process name of the
// iperf3 flow: its policy matches on a process, so the host records
// socket owners and flows carry pid and comm.
const requireComm = true

const topTopo = `
name: top
nodes: {client: {}, server: {}}
links:
  - endpoints:
      - {node: client, iface: eth0, addresses: [198.18.0.1/24]}
      - {node: server, iface: eth0, addresses: [198.18.0.2/24]}
`

const topPolicy = `
version: 1
apps:
  - {name: bulk, match: [{process: iperf3, proto: tcp, dport: 5201}]}
  - {name: idle, match: [{proto: udp, dport: 9}]}
interfaces:
  - name: eth0
    netns: %s
    egress:
      rate: 20mbit
      default: other
      classes:
        - {name: fast,  rate: 15mbit, ceil: 20mbit, apps: [bulk]}
        - {name: other, rate: 5mbit,  ceil: 20mbit}
`

// topLab is a lab with a policy applied and an iperf3 upload (app bulk)
// running for secs seconds.
func topLab(t *testing.T, secs int) *netlab.Lab {
	lab := labtest.Lab(t, topTopo)
	ns := lab.Netns("client")
	if out, code := run(t, "apply", writeFile(t, "top.yaml", fmt.Sprintf(topPolicy, ns))); code != 0 {
		t.Fatalf("apply: %s", out)
	}
	t.Cleanup(func() {
		if out, code := run(t, "delete", "--netns", ns); code != 0 {
			t.Errorf("delete: %s", out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	t.Cleanup(cancel)
	srv := lab.Command(ctx, "server", "iperf3", "-s", "-1", "-p", "5201")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := lab.Exec(ctx, "server", "ss", "-Hltn", "sport = :5201")
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("iperf3 server does not listen")
		}
	}
	cl := lab.Command(ctx, "client", "iperf3", "-c", "198.18.0.2", "-p", "5201", "-t", fmt.Sprint(secs))
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Process.Kill(); _ = cl.Wait() })
	time.Sleep(time.Second) // the upload is under way
	return lab
}

// row finds the line of a table that starts with name and returns its
// columns.
func row(screen, name string) []string {
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// flowLine finds the flow to the iperf3 server.
func flowLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, "198.18.0.2:5201") {
			return l
		}
	}
	return ""
}

// checkScreen says what is wrong with a frame of top: the bulk app and
// its class must show a rate up, the idle app be listed, the flow be
// there with the right process name where one is shown.
func checkScreen(s string) error {
	bulk := row(s, "bulk") // APP IFACE CLASS UP-NOW ...
	if len(bulk) < 5 || bulk[2] != "fast" || bulk[3] == "0" || !strings.HasSuffix(bulk[3], "mbit") {
		return fmt.Errorf("app bulk: %q, want class fast and a rate up in mbit", bulk)
	}
	if idle := row(s, "idle"); len(idle) < 4 || idle[3] != "0" {
		return fmt.Errorf("app idle: %q, want it listed with rate 0", idle)
	}
	fast := row(s, "fast") // CLASS IFACE ID UP-NOW RATE ...
	if len(fast) < 5 || fast[2] != "1:10" || !strings.HasSuffix(fast[3], "mbit") || fast[4] != "15.00mbit" {
		return fmt.Errorf("class fast: %q, want 1:10 with a rate up against 15.00mbit", fast)
	}
	fl := flowLine(s)
	if fl == "" {
		return fmt.Errorf("no flow to 198.18.0.2:5201")
	}
	proc := strings.Fields(fl)[0]
	if (requireComm || proc != "-") && !strings.HasPrefix(proc, "iperf3") {
		return fmt.Errorf("flow %q: process %q, want iperf3", fl, proc)
	}
	if !strings.Contains(fl, "bulk") {
		return fmt.Errorf("flow %q: not in app bulk", fl)
	}
	return nil
}

// Without a terminal, top prints one frame with rates and exits.
func TestTopSnapshot(t *testing.T) {
	labtest.Root(t)
	lab := topLab(t, 8)
	out, code := run(t, "top", "--netns", lab.Netns("client"), "--interval", "500ms")
	if code != 0 {
		t.Fatalf("top: exit %d\n%s", code, out)
	}
	if err := checkScreen(out); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
	t.Logf("\n%s", out)
}

// top in a terminal (tmux): the live screen shows the app's rate, sorts
// on a key and quits on q.
func TestTopTmux(t *testing.T) {
	labtest.Root(t)
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is missing (make deps)")
		}
		t.Skip("tmux is missing (make deps)")
	}
	lab := topLab(t, 15)
	sock := filepath.Join(t.TempDir(), "tmux") // a server of its own, its socket removed with the folder
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command(tmuxPath, append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })
	if out, err := tmux(append([]string{"new-session", "-d", "-s", "top", "-x", "180", "-y", "50"},
		tmuxShaper("top", "--netns", lab.Netns("client"), "--interval", "500ms")...)...); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	screen := func() string {
		out, _ := tmux("capture-pane", "-p", "-t", "top")
		return out
	}
	waitScreen := func(what string, ok func(string) error) string {
		var s string
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if s = screen(); s != "" {
				if err = ok(s); err == nil {
					return s
				}
			}
		}
		t.Fatalf("%s: %v; the screen:\n%s", what, err, s)
		return ""
	}
	s := waitScreen("apps with rates", checkScreen)
	t.Logf("the screen:\n%s", s)
	if _, err := tmux("send-keys", "-t", "top", "b"); err != nil {
		t.Fatal(err)
	}
	waitScreen("sorted by bytes", func(s string) error {
		if !strings.Contains(s, "sorted by bytes") {
			return fmt.Errorf("title does not say so")
		}
		return nil
	})
	if _, err := tmux("send-keys", "-t", "top", "q"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := tmux("has-session", "-t", "top"); err != nil {
			break // top quit, and its session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("top still runs 5 s after q:\n%s", screen())
		}
	}
}
