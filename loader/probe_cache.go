package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ProbeCacheFile keeps the TCX probe's answer across processes: trying TCX
// makes a network namespace and loads a program, which every command would
// otherwise pay for. It lives on tmpfs (/run) and is keyed by the boot id
// and kernel release, so a reboot or a new kernel probes again.
var ProbeCacheFile = "/run/shaper/probe-tcx.json"

type probeCache struct {
	BootID  string `json:"boot_id"`
	Release string `json:"kernel_release"`
	Probe   Probe  `json:"probe"`
}

// probeTCXCached is ProbeTCX answered from ProbeCacheFile when it was
// written since this boot by this kernel; once per process.
var probeTCXCached = sync.OnceValue(func() Probe { return cachedProbe(ProbeCacheFile, ProbeTCX) })

// cachedProbe returns the answer cached in file for this boot and kernel,
// else probe's, which it then caches. A probe that failed for want of
// privileges says nothing about the kernel and is not cached; neither is
// anything when the boot cannot be identified.
func cachedProbe(file string, probe func() Probe) Probe {
	key, err := bootKey()
	if err != nil {
		return probe()
	}
	if c, err := readProbeCache(file); err == nil && c.BootID == key.BootID && c.Release == key.Release {
		return c.Probe
	}
	p := probe()
	if !p.Supported && os.Geteuid() != 0 {
		return p
	}
	key.Probe = p
	_ = writeProbeCache(file, key) // a cache that cannot be written only costs time
	return p
}

func bootKey() (probeCache, error) {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return probeCache{}, fmt.Errorf("read boot id: %w", err)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return probeCache{}, fmt.Errorf("uname: %w", err)
	}
	return probeCache{BootID: strings.TrimSpace(string(id)), Release: unix.ByteSliceToString(u.Release[:])}, nil
}

func readProbeCache(file string) (probeCache, error) {
	var c probeCache
	data, err := os.ReadFile(file)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, err
	}
	if c.BootID == "" {
		return c, errors.New("probe cache without boot id")
	}
	return c, nil
}

// writeProbeCache writes atomically, so a reader never sees half a file.
func writeProbeCache(file string, c probeCache) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", file, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
