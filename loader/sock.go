package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/shaperdev/shaper/bpf"
)

// The socket-owner records of process and cgroup selectors (bpf/sock.c):
// one sock_info map and one cgroup/sock_create link for the whole host,
// shared by every policy. The directory's name starts with '@', which no
// namespace key does (NetnsKey escapes it), so it never collides with one.
const sockDir = pinRoot + "/@sock"

const (
	sockMapPin  = "sock_info"
	sockLinkPin = "link"
)

// SockDir is where the host's socket records and their program are pinned.
func SockDir() string { return sockDir }

// SockInfoMap opens the host's sock_info map, creating and pinning it when
// absent. Every classifier uses this one map, so a policy that gains a
// process selector later needs no reload.
func SockInfoMap() (*ebpf.Map, error) {
	spec, err := bpf.LoadSock()
	if err != nil {
		return nil, fmt.Errorf("load sock spec: %w", err)
	}
	if err := ensurePinDir(sockDir); err != nil {
		return nil, err
	}
	ms := spec.Maps[bpf.SockMapSockInfo].Copy()
	ms.Pinning = ebpf.PinByName
	m, err := ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: sockDir})
	if err != nil {
		return nil, fmt.Errorf("socket records map %s: %w", filepath.Join(sockDir, sockMapPin), err)
	}
	return m, nil
}

// SockAttached reports whether the sock_create program is attached.
func SockAttached() bool {
	_, err := os.Stat(filepath.Join(sockDir, sockLinkPin))
	return err == nil
}

// EnsureSock attaches the sock_create program to the cgroup v2 root
// unless it already is. Right after attaching, it records the sockets that
// exist already (opened before: the program never saw them), so that a
// socket opened before `shaper apply` is attributed too. It returns how
// many existing sockets it recorded (0 when it was attached already).
func EnsureSock() (int, error) {
	if SockAttached() {
		return 0, nil
	}
	root, err := CgroupRoot()
	if err != nil {
		return 0, err
	}
	m, err := SockInfoMap()
	if err != nil {
		return 0, err
	}
	defer m.Close()
	spec, err := bpf.LoadSock()
	if err != nil {
		return 0, fmt.Errorf("load sock spec: %w", err)
	}
	var objs bpf.SockObjects
	opts := ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{bpf.SockMapSockInfo: m}}
	if err := spec.LoadAndAssign(&objs, &opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return 0, fmt.Errorf("load sock_create program: %w\nverifier log:\n%+v", err, ve)
		}
		return 0, fmt.Errorf("load sock_create program: %w", err)
	}
	defer objs.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: ebpf.AttachCGroupInetSockCreate, Program: objs.ShaperSockCreate})
	if err != nil {
		return 0, fmt.Errorf("attach sock_create to cgroup %s: %w", root, err)
	}
	defer l.Close()
	if err := l.Pin(filepath.Join(sockDir, sockLinkPin)); err != nil {
		return 0, fmt.Errorf("pin sock_create link (kernel without bpf_link for cgroups?): %w", err)
	}
	return recordExisting(m, root)
}

// RemoveSock detaches the sock_create program and removes the records:
// for the last `shaper delete` on the host.
func RemoveSock() error {
	for _, name := range []string{sockLinkPin, sockMapPin} {
		if err := os.Remove(filepath.Join(sockDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	if err := os.Remove(sockDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", sockDir, err)
	}
	return nil
}
