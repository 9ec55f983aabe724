package shaper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// appsPolicy puts the same port in three apps, the process and cgroup
// ones first: a process selector wins over the port where the policy says
// so. %[1]s is the netns, %[2]s the test's cgroup path.
const appsPolicy = `
version: 1
apps:
  - {name: up,   match: [{process: upsender}]}
  - {name: old,  match: [{process: oldsender}]}
  - {name: cg,   match: [{cgroup: %[2]s, proto: tcp}]}
  - {name: port, match: [{proto: tcp, dport: 5201}]}
interfaces:
  - name: eth0
    netns: %[1]s
    egress:
      rate: 1gbit
      default: other
      classes:
        - {name: up,    rate: 10%%, ceil: 100%%, apps: [up]}
        - {name: old,   rate: 10%%, ceil: 100%%, apps: [old]}
        - {name: cg,    rate: 10%%, ceil: 100%%, apps: [cg]}
        - {name: port,  rate: 10%%, ceil: 100%%, apps: [port]}
        - {name: other, rate: 10%%, ceil: 100%%}
    ingress: {}
`

// Processes by name and by cgroup, on the same port, each land in their
// own app and class, a socket opened before the apply included.
func TestTrafficAppsByProcessAndCgroup(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	cg := testCgroup(t)
	bin := t.TempDir()
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		t.Fatalf("iperf3: %v", err)
	}
	for _, name := range []string{"upsender", "oldsender"} {
		copyFile(t, iperf, filepath.Join(bin, name))
	}
	iperfServe(t, lab, 5201)
	iperfServe(t, lab, 5202)

	// A socket opened before apply: oldsender is connected and sending
	// (to a server of its own) when the policy arrives, and until killed.
	old := sender(t, lab, "", filepath.Join(bin, "oldsender"), 100, "-p", "5202")
	waitFor(t, 10*time.Second, "oldsender connected", func() bool {
		out, err := lab.Exec(t.Context(), "client", "ss", "-Htnp", "dport = :5202")
		return err == nil && bytes.Contains(out, []byte("oldsender"))
	})
	ns := lab.Netns("client")
	pol := fmt.Sprintf(appsPolicy, ns, cg.path)
	applyText(t, ns, pol)
	st, err := shaper.LoadState(ns, "eth0")
	if err != nil || st == nil {
		t.Fatalf("state: %v", err)
	}
	ids := st.AppIDs
	pin := loader.PinDir(ns, "eth0", loader.Egress)
	before := appCounters(t, pin)
	time.Sleep(2 * time.Second)
	checkRun(t, pin, before, ids["old"], "oldsender (socket opened before apply)")
	_ = old.Process.Kill()
	_ = old.Wait()

	for _, run := range []struct {
		what, app, cgroup, path string
	}{
		{"upsender", "up", "", filepath.Join(bin, "upsender")},
		{"iperf3 in the test cgroup", "cg", cg.procs, iperf},
		{"iperf3 by port", "port", "", iperf},
	} {
		before := appCounters(t, pin)
		if err := sender(t, lab, run.cgroup, run.path, 2).Wait(); err != nil {
			t.Fatalf("%s: %v", run.what, err)
		}
		checkRun(t, pin, before, ids[run.app], run.what)
	}
	// At ingress the socket is found by lookup: a download by upsender
	// (iperf3 -R) counts as app up.
	inPin := loader.PinDir(ns, "eth0", loader.Ingress)
	before = appCounters(t, inPin)
	if err := sender(t, lab, "", filepath.Join(bin, "upsender"), 2, "-R").Wait(); err != nil {
		t.Fatalf("upsender -R: %v", err)
	}
	checkRun(t, inPin, before, ids["up"], "upsender's download (ingress)")

	// Classes follow apps one to one here: class counters equal app counters.
	classes, apps, err := loader.ReadCounters(pin)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"up", "old", "cg", "port"} {
		if a, c := apps[ids[app]], classes[minorOf(t, st, app)]; a.Bytes == 0 || a != c {
			t.Errorf("app %s counted %+v, its class %+v", app, a, c)
		}
	}
}

// minorOf is the class slot the state gave app's class (named like it).
func minorOf(t *testing.T, st *shaper.State, app string) uint32 {
	t.Helper()
	m, ok := st.Minors[app]
	if !ok {
		t.Fatalf("no minor for class %s in %v", app, st.Minors)
	}
	return m
}

// checkRun: at least 95% of the bytes counted since before went to app id.
func checkRun(t *testing.T, pin string, before map[uint32]loader.Counter, id uint32, what string) {
	t.Helper()
	after := appCounters(t, pin)
	var total uint64
	for k, c := range after {
		total += c.Bytes - before[k].Bytes
	}
	got := after[id].Bytes - before[id].Bytes
	if total < 1<<20 || float64(got) < 0.95*float64(total) {
		t.Errorf("%s: app %d got %d of %d bytes; by app before %v after %v", what, id, got, total, before, after)
	}
}

func appCounters(t *testing.T, pin string) map[uint32]loader.Counter {
	t.Helper()
	_, apps, err := loader.ReadCounters(pin)
	if err != nil {
		t.Fatalf("read counters: %v", err)
	}
	return apps
}

// applyText applies a policy text and deletes it at cleanup.
func applyText(t *testing.T, ns, text string) {
	t.Helper()
	pol, err := policy.Parse(t.Name()+".yaml", []byte(text))
	if err != nil {
		t.Fatalf("parse policy:\n%v", err)
	}
	if err := shaper.Apply(pol, shaper.ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() {
		if err := shaper.Delete(shaper.DeleteOptions{Netns: ns}); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
}

// cgroup is a test cgroup v2 directory.
type cgroup struct {
	path  string // from the hierarchy's root
	procs string // its cgroup.procs file
}

// testCgroup makes a uniquely named cgroup under the v2 hierarchy and
// removes it at cleanup (after the processes in it are gone).
func testCgroup(t *testing.T) cgroup {
	t.Helper()
	root, err := loader.CgroupRoot()
	if err != nil {
		t.Fatalf("cgroup v2: %v", err)
	}
	name := "/" + labtest.UniqueName("shaper-test-")
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make test cgroup: %v", err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			err := os.Remove(dir)
			if err == nil || os.IsNotExist(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("remove test cgroup %s: %v", dir, err)
				return
			}
		}
	})
	return cgroup{path: name, procs: filepath.Join(dir, "cgroup.procs")}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// iperfServe runs an iperf3 server for many tests in a row on the server
// node, stopped by PID at cleanup.
func iperfServe(t *testing.T, lab *netlab.Lab, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := lab.Command(ctx, "server", "iperf3", "-s", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start iperf3 server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
	waitFor(t, 10*time.Second, "iperf3 server listening", func() bool {
		out, err := lab.Exec(t.Context(), "server", "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		return err == nil && len(bytes.TrimSpace(out)) > 0
	})
}

// sender starts binary (an iperf3) uploading to the server for secs
// seconds, rate-limited so the shaper's classes never drop; with procs set
// it first moves itself into that cgroup, so its sockets are born there.
func sender(t *testing.T, lab *netlab.Lab, procs, binary string, secs int, extra ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
	t.Cleanup(cancel)
	argv := append([]string{binary, "-c", "198.18.0.2", "-t", fmt.Sprint(secs), "-b", "50M", "-p", "5201"}, extra...)
	if procs != "" {
		argv = append([]string{"sh", "-c", fmt.Sprintf(`echo $$ > %s && exec "$@"`, procs), "sh"}, argv...)
	}
	cmd := lab.Command(ctx, "client", argv...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", strings.Join(argv, " "), out)
		}
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// A cgroup that does not exist is bad input, said with its position, and
// nothing is applied.
func TestApplyMissingCgroup(t *testing.T) {
	lab := labtest.Lab(t, pairTopo)
	ns := lab.Netns("client")
	text := fmt.Sprintf("version: 1\napps:\n  - {name: cg, match: [{cgroup: /%s}]}\ninterfaces: [{name: eth0, netns: %s, egress: {}}]\n",
		labtest.UniqueName("no-such-cgroup-"), ns)
	pol, err := policy.Parse("missing.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	err = shaper.Apply(pol, shaper.ApplyOptions{})
	var bad interface{ BadInput() bool }
	if err == nil || !errors.As(err, &bad) || !bad.BadInput() || !strings.Contains(err.Error(), "missing.yaml:3:") ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("apply: %v; want bad input at missing.yaml:3 saying the cgroup does not exist", err)
	}
	if st, err := shaper.LoadState(ns, "eth0"); err != nil || st != nil {
		t.Errorf("state after a refused apply: %+v, %v", st, err)
	}
}
