package exporter_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shaperdev/shaper/shaper"
)

// serve --policy follows its file: a rules-only change is applied without
// touching the queues (their counters continue), a broken file is logged
// with its positions while the running policy stays, and SIGHUP re-applies.
func TestServeReload(t *testing.T) {
	bin, lab, ns, _ := shapedLab(t, "")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(text string) {
		t.Helper()
		// Write and rename: a reader never sees half a file.
		tmp := pol + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, pol); err != nil {
			t.Fatal(err)
		}
	}
	write(servePolicy)
	port := freePort(t)
	serve := startServe(t, bin, ns, pol, port)
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)

	// Traffic into the default class, so its counter has something to keep.
	if out, err := lab.Exec(t.Context(), "client", "ping", "-c", "20", "-i", "0.01", "-q", "198.18.0.2"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	before, _ := classBytes(t, lab)
	const otherID = 0x10030
	if before[otherID] == 0 {
		t.Fatal("the default class counted nothing")
	}

	logged := func(what string, re *regexp.Regexp) {
		t.Helper()
		waitFor(t, 20*time.Second, what+" in the log", func() bool { return re.MatchString(serve.out.String()) })
	}

	// A rules-only change: the web app moves to another port.
	write(strings.Replace(servePolicy, "dport: 5301", "dport: 5303", 1))
	logged("a re-apply after the file changed", regexp.MustCompile(`policy applied.*why="file changed"`))
	after, _ := classBytes(t, lab)
	if after[otherID] < before[otherID] {
		t.Errorf("the default class's counter went from %d to %d: the rules-only change rebuilt the queues", before[otherID], after[otherID])
	}
	st, err := shaper.LoadState(ns, "eth0")
	if err != nil || st == nil {
		t.Fatalf("state: %v", err)
	}
	if got := st.Apps[0].Match[0].DPorts; len(got) != 1 || got[0].Lo != 5303 {
		t.Errorf("applied web app matches dport %v, want 5303", got)
	}

	// A broken file: logged with file:line:col, the running policy stays.
	write(strings.Replace(servePolicy, "rate: 40mbit, ceil: 40mbit", "rate: 40mbti, ceil: 40mbit", 1))
	logged("the broken file's position", regexp.MustCompile(regexp.QuoteMeta(pol)+`:1[0-9]:[0-9]+`))
	waitFor(t, 10*time.Second, "/healthz saying the policy was not applied", func() bool {
		_, body, err := httpGet(health)
		return err == nil && strings.Contains(body, "not applied")
	})
	kept, _ := classBytes(t, lab)
	if len(kept) != len(after) {
		t.Errorf("classes after a broken file: %v, want %v", kept, after)
	}

	// Fixed again, then SIGHUP re-applies the same file.
	write(servePolicy)
	logged("a re-apply of the fixed file", regexp.MustCompile(`(?s)40mbti.*policy applied.*why="file changed"`))
	if err := serve.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged("a re-apply on SIGHUP", regexp.MustCompile(`policy applied.*why=SIGHUP`))
	if _, body, _ := httpGet(health); body != "ok\n" {
		t.Errorf("/healthz after a good re-apply: %q", body)
	}

	// SIGTERM: serve exits 0 and the shaping stays.
	if err := serve.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.exited(t, 10*time.Second); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	if left, _ := classBytes(t, lab); len(left) != len(after) || left[otherID] < after[otherID] {
		t.Errorf("classes after SIGTERM: %v, want %v kept", left, after)
	}
	if !strings.Contains(serve.out.String(), "shaping stays in place") {
		t.Error("serve did not log that the shaping stays")
	}
}
