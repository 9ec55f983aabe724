package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shaperdev/shaper/internal/netns"
)

// Down removes everything of the lab: its FRR daemons, the processes left in
// its namespaces, the namespaces (which takes their veths and bridges with
// them) and its record. Calling it on a lab that is already down is fine.
func (l *Lab) Down() error {
	err := down(l)
	if errors.Is(err, errNotUp) {
		return nil
	}
	return err
}

// DownByName removes a lab that another process built.
func DownByName(name string) error {
	err := down(&Lab{name: name})
	if errors.Is(err, errNotUp) {
		return badInput("%v", err)
	}
	return err
}

func down(l *Lab) error {
	st, err := readState(l.name)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range st.Topology.Nodes {
		if n.Kind == KindRouter {
			l.stopDaemons(nodeDir(l.name, n.Name))
		}
	}
	for _, ns := range st.Netns {
		if !netns.Exists(ns) {
			continue
		}
		killNetnsProcs(ns)
		if err := netns.Delete(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(stateDir(l.name)); err != nil {
			errs = append(errs, fmt.Errorf("remove lab state: %w", err))
		}
	}
	return errors.Join(errs...)
}

// daemonPid returns the recorded pid of an FRR daemon when that process is
// still the daemon (its command line names the folder: pids are reused).
func daemonPid(dir, daemon string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, daemon+".lab.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(dir+"/")) {
		return 0, false // gone, a zombie (empty cmdline) or someone else
	}
	return pid, true
}

func alive(dir, daemon string) bool {
	_, ok := daemonPid(dir, daemon)
	return ok
}

// stopDaemons ends the OSPF daemons then zebra: SIGTERM, then SIGKILL after 3 s. The
// ones this process started are reaped; the others are left to their
// parent (init).
func (l *Lab) stopDaemons(dir string) {
	for _, d := range []string{"ospf6d", "ospfd", "zebra"} {
		pid, ok := daemonPid(dir, d)
		if !ok {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(dir, d, 3*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(dir, d, 2*time.Second)
		}
		l.mu.Lock()
		cmd := l.procs[pid]
		delete(l.procs, pid)
		l.mu.Unlock()
		if cmd != nil {
			_ = cmd.Wait()
		}
	}
}

func waitGone(dir, daemon string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(dir, daemon) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// killNetnsProcs kills every process whose network namespace is ns (what
// `ip netns pids` lists): a server left running would keep the namespace,
// and so its links, alive after the name is gone.
func killNetnsProcs(ns string) {
	var want syscall.Stat_t
	if err := syscall.Stat(netns.Path(ns), &want); err != nil {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
			continue
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
