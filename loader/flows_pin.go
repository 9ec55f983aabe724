package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
)

// The flow table (bpf/flow.h) belongs to an interface, not to a hook: its
// hooks share one table so that a flow's upload and download meet in one
// entry. It is pinned once in the interface's shared directory and every
// hook's program is loaded onto it (MapReplacements), instead of being
// pinned per hook like the rule maps and counters.

// DefaultFlowEntries is the flow table's size when none is asked for.
const DefaultFlowEntries = 65536

// MaxFlowEntries bounds the table: 16 Mi entries are 2.3 GB of kernel
// memory (144 bytes of key and value each, plus the hash's own).
const MaxFlowEntries = 1 << 24

// sharedDirName is the pin directory of an interface's shared maps, beside
// its egress and ingress directories.
const sharedDirName = "shared"

// sharedMaps are the maps in the shared directory.
var sharedMaps = map[string]bool{bpf.ClassifierMapFlows: true, bpf.ClassifierMapFlowMisses: true}

// SharedDir is the directory of the maps an interface's hooks share:
// /sys/fs/bpf/shaper/<NetnsKey(netns)>/<ifname>/shared.
func SharedDir(netnsName, ifname string) string {
	return filepath.Join(IfaceDir(netnsName, ifname), sharedDirName)
}

// sharedDirOf is the shared directory beside a hook's pin directory.
func sharedDirOf(pinDir string) string { return filepath.Join(ifaceDir(pinDir), sharedDirName) }

// flowEntries is the table size knobs ask for.
func flowEntries(k Knobs) uint32 {
	if k.Flows > 0 {
		return uint32(k.Flows)
	}
	return DefaultFlowEntries
}

// sharedReplacements opens the shared maps pinned beside pinDir, or makes
// and pins them, for the program to be loaded onto. A pinned flow table of
// another size is replaced by a new, empty one (the program still attached
// to the other hook keeps the old one until it is loaded again: the size
// is a knob, so it is). The caller closes the maps after loading.
func sharedReplacements(spec *ebpf.CollectionSpec, pinDir string, k Knobs) (map[string]*ebpf.Map, error) {
	spec.Maps[bpf.ClassifierMapFlows].MaxEntries = flowEntries(k)
	if pinDir == "" {
		return nil, nil // unpinned: the collection makes its own
	}
	dir := sharedDirOf(pinDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("shared pin dir: %w", err)
	}
	out := map[string]*ebpf.Map{}
	for name := range sharedMaps {
		m, err := openOrPin(spec.Maps[name], filepath.Join(dir, name))
		if err != nil {
			closeMaps(out)
			return nil, err
		}
		out[name] = m
	}
	return out, nil
}

// openOrPin opens the map pinned at path when it is compatible with ms,
// else makes one from ms and pins it there, replacing what was there.
func openOrPin(ms *ebpf.MapSpec, path string) (*ebpf.Map, error) {
	m, err := ebpf.LoadPinnedMap(path, nil)
	switch {
	case err == nil:
		if ms.Compatible(m) == nil {
			return m, nil
		}
		m.Close()
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open pinned map %s: %w", path, err)
	}
	s := ms.Copy()
	s.Pinning = ebpf.PinNone
	if m, err = ebpf.NewMap(s); err != nil {
		return nil, fmt.Errorf("make map %s: %w", s.Name, err)
	}
	tmp := path + "__new" // bpffs refuses names with dots
	_ = os.Remove(tmp)
	if err := m.Pin(tmp); err != nil {
		m.Close()
		return nil, fmt.Errorf("pin %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		m.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("pin %s: %w", path, err)
	}
	return m, nil
}

func closeMaps(ms map[string]*ebpf.Map) {
	for _, m := range ms {
		m.Close()
	}
}

// removeSharedIfUnused removes an interface's shared maps once neither of
// its hooks has a pin directory left (delete of the last hook).
func removeSharedIfUnused(ifDir string) error {
	for _, d := range []Direction{Egress, Ingress} {
		if _, err := os.Stat(filepath.Join(ifDir, d.String())); err == nil {
			return nil
		}
	}
	if err := os.RemoveAll(filepath.Join(ifDir, sharedDirName)); err != nil {
		return fmt.Errorf("remove shared pins: %w", err)
	}
	return nil
}
