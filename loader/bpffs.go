package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BPFFSRoot is where bpffs is (or gets) mounted.
const BPFFSRoot = "/sys/fs/bpf"

// pinRoot is the folder of all our pins under bpffs.
const pinRoot = BPFFSRoot + "/shaper"

// Pin file names inside a hook's pin directory.
const (
	linkPin = "link" // TCX: the bpf_link; keeps the attachment alive
	progPin = "prog" // tc: the program the cls_bpf filter runs
	// clsactMarker, in the interface's directory, is an empty directory
	// saying that shaper created the interface's clsact qdisc, so that
	// removal may delete it. bpffs holds only pins and directories, so a
	// directory is the marker.
	clsactMarker = "clsact-created"
)

// RootNetnsKey names the root network namespace in pin and state paths.
// No named namespace maps to it: NetnsKey escapes '@' in names (ip netns
// accepts '@' in a name, but never '/', so a reserved word alone would not do).
const RootNetnsKey = "@root"

// legacyRootKey is what shaper before namespace keys used for the root
// namespace; a namespace literally named "host" shared it.
const legacyRootKey = "host"

// NetnsKey names a network namespace ("" = the root one) in pin and state
// paths, one to one: names are escaped URL-style ('%', '.', '/' and '@'),
// so no two namespaces, and no namespace and the root, share a key.
func NetnsKey(netns string) string {
	if netns == "" {
		return RootNetnsKey
	}
	return strings.ReplaceAll(pinName(netns), "@", "%40") // pinName escaped '%' already
}

// LegacyNetnsKey is the key shaper used before NetnsKey: "host" for the
// root namespace (colliding with a namespace named "host") and '@' left
// as it is. Only for finding state and pins made by an older shaper.
func LegacyNetnsKey(netns string) string {
	if netns == "" {
		netns = legacyRootKey
	}
	return pinName(netns)
}

// PinDir is the directory holding the pins of one hook:
// /sys/fs/bpf/shaper/<NetnsKey(netns)>/<ifname>/<egress|ingress>.
//
// Pins are per namespace, interface and direction: bpffs is shared by all
// network namespaces, so the namespace must be part of the path or two
// namespaces' eth0 would collide. Attach creates the directory.
func PinDir(netnsName, ifname string, dir Direction) string {
	return filepath.Join(IfaceDir(netnsName, ifname), dir.String())
}

// IfaceDir is the directory of all pins of one interface (both hooks and
// the clsact marker).
func IfaceDir(netnsName, ifname string) string {
	return filepath.Join(pinRoot, NetnsKey(netnsName), pinName(ifname))
}

// MigratePins moves an interface's pins from where an older shaper put them
// (LegacyNetnsKey) to IfaceDir. Pins keep what they hold (a TCX link stays
// attached, counters keep counting): bpffs renames in place. Nothing to move
// is fine; pins in both places is an error, since it cannot tell which are
// live.
func MigratePins(netnsName, ifname string) error {
	from := filepath.Join(pinRoot, LegacyNetnsKey(netnsName), pinName(ifname))
	to := IfaceDir(netnsName, ifname)
	if from == to {
		return nil
	}
	if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("move pins of %s: both %s (old layout) and %s exist: "+
			"remove the one no program uses (see `shaper status`)", ifname, from, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return fmt.Errorf("move pins of %s: %w", ifname, err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move pins of %s from %s to %s: %w", ifname, from, to, err)
	}
	_ = os.Remove(filepath.Dir(from)) // only when empty
	return nil
}

// RemoveIfacePins removes every pin of an interface, for when its
// namespace or interface is gone and nothing is left to detach.
func RemoveIfacePins(netnsName, ifname string) error {
	d := IfaceDir(netnsName, ifname)
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("remove pins %s: %w", d, err)
	}
	_ = os.Remove(filepath.Dir(d)) // only when empty
	return nil
}

// pinName makes a name usable in bpffs, which refuses names with a dot
// (EPERM: dots are reserved for its own files), as VLAN interfaces like
// eth0.100 have. '%' and '.' are escaped URL-style, so no two names clash.
func pinName(s string) string {
	return strings.NewReplacer("%", "%25", ".", "%2e", "/", "%2f").Replace(s)
}

// EnsureBPFFS makes sure a bpf filesystem is mounted at path (BPFFSRoot when
// empty), mounting one when absent. A fresh machine may not have it, and
// `ip netns exec` remounts /sys so that it is missing (and a new mount there
// is a different, empty instance: enter namespaces with setns instead).
func EnsureBPFFS(path string) error {
	if path == "" {
		path = BPFFSRoot
	}
	ok, err := isBPFFS(path)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("create bpffs mount point %s: %w", path, err)
	}
	if err := unix.Mount("bpf", path, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s (needs root): %w", path, err)
	}
	if ok, err := isBPFFS(path); err != nil || !ok {
		return fmt.Errorf("mount bpffs at %s: still not a bpf filesystem (err %v)", path, err)
	}
	return nil
}

// isBPFFS says whether path is on a bpf filesystem; a missing path is not.
func isBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uint32(st.Type) == unix.BPF_FS_MAGIC, nil
}

// pinProgramAt pins prog at path, replacing an existing pin atomically (pin
// under a temporary name, then rename over). It pins a clone so that the
// caller's *ebpf.Program keeps any pin of its own: cilium/ebpf moves a
// pinned object's pin instead of adding one.
func pinProgramAt(prog *ebpf.Program, path string) error {
	c, err := prog.Clone()
	if err != nil {
		return fmt.Errorf("pin program at %s: %w", path, err)
	}
	defer c.Close()
	tmp := path + "_new" // bpffs refuses dots in names
	_ = os.Remove(tmp)   // a leftover of a crashed run
	if err := c.Pin(tmp); err != nil {
		return fmt.Errorf("pin program at %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pin program at %s: %w", path, err)
	}
	return nil
}

// ensurePinDir creates a hook's pin directory, mounting bpffs if needed.
func ensurePinDir(dir string) error {
	if err := EnsureBPFFS(BPFFSRoot); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pin dir: %w", err)
	}
	return nil
}
