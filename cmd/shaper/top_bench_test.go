package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// TestBenchTopCPU measures the CPU `shaper top` uses while it runs in a
// terminal (tmux) against a lab with an upload (make bench): user and
// system time from /proc over 10 s, at two refresh intervals.
func TestBenchTopCPU(t *testing.T) {
	if os.Getenv("SHAPER_BENCH") != "1" {
		t.Skip("benchmark: set SHAPER_BENCH=1 (make bench)")
	}
	labtest.Root(t)
	lab := topLab(t, 30)
	fmt.Printf("%-12s %10s %8s\n", "interval", "cpu s/10s", "cpu %")
	for _, iv := range []string{"1s", "250ms"} {
		sock := filepath.Join(t.TempDir(), "tmux")
		tmux := func(args ...string) (string, error) {
			out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
			return string(out), err
		}
		if out, err := tmux(append([]string{"new-session", "-d", "-s", "top", "-x", "180", "-y", "50"},
			tmuxShaper("top", "--netns", lab.Netns("client"), "--interval", iv)...)...); err != nil {
			t.Fatalf("tmux: %v\n%s", err, out)
		}
		out, err := tmux("list-panes", "-t", "top", "-F", "#{pane_pid}")
		pid, _ := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || pid == 0 {
			t.Fatalf("pane pid: %v %q", err, out)
		}
		time.Sleep(2 * time.Second) // started, first readings done
		a := cpuTicks(t, pid)
		time.Sleep(10 * time.Second)
		b := cpuTicks(t, pid)
		_, _ = tmux("kill-server")
		secs := float64(b-a) / 100 // USER_HZ
		fmt.Printf("%-12s %10.2f %7.1f%%\n", iv, secs, secs*10)
	}
	fmt.Println("(one interface, 3 classes, 2 apps, a few flows; the machine's 2 cores are shared)")
}

// cpuTicks is utime+stime of pid in clock ticks.
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	u, _ := strconv.ParseUint(f[11], 10, 64)                 // utime: field 14
	k, _ := strconv.ParseUint(f[12], 10, 64)                 // stime: field 15
	return u + k
}
