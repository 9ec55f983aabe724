package loader

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/bpf"
)

// recordExisting records the owner of every socket open on the host that
// has no record yet: it walks /proc, takes each socket into this process
// with pidfd_getfd (root may) and writes its record through the fd (the
// key of an SK_STORAGE map from user space). A socket shared by several
// processes gets the first one found. Errors on single processes or
// sockets (gone meanwhile, not an inet socket) are skipped: best effort,
// once, when the program is attached.
func recordExisting(m *ebpf.Map, cgRoot string) (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	n := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		n += recordProcess(m, cgRoot, pid, seen)
	}
	return n, nil
}

func recordProcess(m *ebpf.Map, cgRoot string, pid int, seen map[string]bool) int {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return 0
	}
	info := ownerOf(dir, cgRoot, pid)
	pidfd := -1
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, "socket:[") || seen[target] {
			continue
		}
		seen[target] = true
		num, err := strconv.Atoi(fd.Name())
		if err != nil {
			continue
		}
		if pidfd < 0 {
			if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
				return n
			}
			defer unix.Close(pidfd)
		}
		local, err := unix.PidfdGetfd(pidfd, num, 0)
		if err != nil {
			continue
		}
		err = m.Update(uint32(local), info, ebpf.UpdateNoExist)
		unix.Close(local)
		if err == nil {
			n++
		}
	}
	return n
}

// ownerOf is the record of process pid now: its comm and cgroup.
func ownerOf(dir, cgRoot string, pid int) bpf.SockSockInfo {
	info := bpf.SockSockInfo{Pid: uint32(pid)}
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		b = bytes.TrimSuffix(b, []byte("\n"))
		for i := 0; i < len(b) && i < bpf.CommLen-1; i++ {
			info.Comm[i] = int8(b[i])
		}
	}
	if path, err := cgroupOf(dir); err == nil {
		if id, err := CgroupID(cgRoot, path); err == nil {
			info.Cgroup = id
		}
	}
	return info
}

// cgroupOf reads the process's cgroup v2 path ("0::/path").
func cgroupOf(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, "cgroup"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 line")
}
