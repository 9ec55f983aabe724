package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/shaper"
)

// The helpers of the root tests: the shaper binary, managed processes
// (shaper serve, Prometheus, iperf3) started in the foreground with a
// timeout and stopped by PID, and Prometheus's HTTP API.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary shaperBinary built, once every test ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// shaperBinary builds cmd/shaper once per test run: kill -9 needs a
// process of its own. SHAPER_BIN names a binary built already (the VM
// tier carries one and no go).
func shaperBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SHAPER_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shaper-serve-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "shaper")
		// The go that runs the tests is on PATH (make, go test).
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/shaper").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a managed background process and its output.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed once the process is reaped
	err  error         // its exit, valid after done
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs cmd in the foreground of a managed process (limit is its
// timeout) and stops it by PID at cleanup; its output is logged when the
// test fails.
func start(t *testing.T, name string, limit time.Duration, argv ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	p := &proc{name: name, cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		cancel()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out)
		}
	})
	return p
}

// kill sends SIGKILL to the process (by its PID) and reaps it.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exited waits up to limit for the process to end and returns its exit.
func (p *proc) exited(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("%s still runs after %s", p.name, limit)
		return nil
	}
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// promSample is one series of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) float(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("value %v: %v", s.Value, err)
	}
	return v
}

// query runs an instant PromQL query through Prometheus's HTTP API.
func query(t *testing.T, prom, q string) []promSample {
	t.Helper()
	return queryAt(t, prom, "", q)
}

// queryAt runs an instant query evaluated at time at (Prometheus's
// seconds; "" = now).
func queryAt(t *testing.T, prom, at, q string) []promSample {
	t.Helper()
	u := prom + "/api/v1/query?query=" + url.QueryEscape(q)
	if at != "" {
		u += "&time=" + at
	}
	code, body, err := httpGet(u)
	if err != nil || code != 200 {
		t.Fatalf("query %s: %d %v\n%s", q, code, err, body)
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("query %s: %v\n%s", q, err, body)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %s: %s\n%s", q, r.Status, body)
	}
	return r.Data.Result
}

// iperfServer starts a one-off iperf3 server on node and returns once it
// listens.
func iperfServer(t *testing.T, lab *netlab.Lab, node string, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := lab.Command(ctx, node, "iperf3", "-s", "-1", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start iperf3 server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
	waitFor(t, 10*time.Second, fmt.Sprintf("iperf3 server listening on port %d", port), func() bool {
		out, err := lab.Exec(t.Context(), node, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		return err == nil && len(bytes.TrimSpace(out)) > 0
	})
}

// iperfClient starts a TCP upload from node to addr for secs seconds.
func iperfClient(t *testing.T, lab *netlab.Lab, node, addr string, port, secs int) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	t.Cleanup(cancel)
	out := &lockedBuffer{}
	cmd := lab.Command(ctx, node, "iperf3", "-c", addr, "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start iperf3 client: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("iperf3 client to port %d:\n%s", port, out)
		}
	})
	return cmd
}

// lastScrape is the time of the newest sample of the web class, as
// Prometheus writes times.
func lastScrape(t *testing.T, prom, ns string) string {
	t.Helper()
	r := query(t, prom, fmt.Sprintf(`timestamp(shaper_class_bytes_total{netns=%q,class="web"})`, ns))
	if len(r) != 1 {
		t.Fatalf("no sample of the web class: %v", r)
	}
	return strconv.FormatFloat(r[0].float(t), 'f', 3, 64)
}

// shapedLab starts a serve test: root, the shaper binary, a pair lab whose
// client namespace loses shaper's state when the test ends (registered
// first, so it runs after serve is stopped: cleanups run last first), and
// policyText written to a file ("" writes none; pol is then "").
func shapedLab(t *testing.T, policyText string) (bin string, lab *netlab.Lab, ns, pol string) {
	t.Helper()
	labtest.Root(t)
	bin = shaperBinary(t)
	lab = labtest.Lab(t, pairTopo)
	ns = lab.Netns("client")
	t.Cleanup(func() {
		if err := shaper.Delete(shaper.DeleteOptions{Netns: ns}); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
	if policyText == "" {
		return bin, lab, ns, ""
	}
	pol = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(policyText), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, lab, ns, pol
}
