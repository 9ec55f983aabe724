package loader

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupMount is where shaper mounts a cgroup v2 hierarchy when the host
// has none mounted (a cgroup v1-only host still has the v2 hierarchy in
// the kernel: sockets carry their v2 cgroup either way).
const cgroupMount = "/run/shaper/cgroup2"

// CgroupRoot finds the cgroup v2 hierarchy (unified on modern hosts, e.g.
// /sys/fs/cgroup; hybrid ones have it at /sys/fs/cgroup/unified), or
// mounts one.
func CgroupRoot() (string, error) {
	if p, err := findCgroup2(); err != nil || p != "" {
		return p, err
	}
	if err := os.MkdirAll(cgroupMount, 0o755); err != nil {
		return "", fmt.Errorf("cgroup v2 mount point: %w", err)
	}
	if err := unix.Mount("cgroup2", cgroupMount, "cgroup2", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return "", fmt.Errorf("mount cgroup2 at %s: %w", cgroupMount, err)
	}
	return cgroupMount, nil
}

// findCgroup2 returns the first cgroup2 mount of the root of the
// hierarchy in /proc/self/mountinfo, or "".
func findCgroup2() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup v2: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fs := strings.Fields(pre)
		if !ok || len(fs) < 5 || !strings.HasPrefix(post, "cgroup2 ") || fs[3] != "/" {
			continue
		}
		return fs[4], nil
	}
	return "", sc.Err()
}

// CgroupID is the id of the cgroup at path (from the hierarchy's root,
// like /system.slice/backup.service): the inode of its directory, which is
// what bpf_skb_cgroup_id and bpf_get_current_cgroup_id return.
func CgroupID(root, path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, filepath.Clean("/"+path)), &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fmt.Errorf("%s is not a cgroup directory", path)
	}
	return st.Ino, nil
}
