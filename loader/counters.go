package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// ReadCounters sums the class and app counters pinned in pinDir without
// loading a program: what status and the exporter read. A hook with no
// pins yet has no counters (nil maps, no error).
func ReadCounters(pinDir string) (classes, apps map[uint32]Counter, err error) {
	classes, err = readPinned(filepath.Join(pinDir, "class_stats"))
	if err != nil {
		return nil, nil, err
	}
	apps, err = readPinned(filepath.Join(pinDir, "app_stats"))
	if err != nil {
		return nil, nil, err
	}
	return classes, apps, nil
}

func readPinned(path string) (map[uint32]Counter, error) {
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", path, err)
	}
	defer m.Close()
	return readCountersBatch(m)
}
