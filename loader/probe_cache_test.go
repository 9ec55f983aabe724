package loader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The TCX probe runs once per boot and kernel: later processes read the
// answer from the cache file; another boot id probes again.
func TestProbeCache(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "probe.json")
	runs := 0
	probe := func() Probe { runs++; return Probe{Supported: true, Reason: "tried"} }
	for range 3 {
		if p := cachedProbe(file, probe); !p.Supported || p.Reason != "tried" {
			t.Fatalf("cached probe = %+v", p)
		}
	}
	if runs != 1 {
		t.Errorf("probe ran %d times for one boot, want 1", runs)
	}
	c, err := readProbeCache(file)
	if err != nil {
		t.Fatal(err)
	}
	key, err := bootKey()
	if err != nil {
		t.Fatal(err)
	}
	if c.BootID != key.BootID || c.Release != key.Release || c.BootID == "" {
		t.Errorf("cache key %q/%q, want this boot %q/%q", c.BootID, c.Release, key.BootID, key.Release)
	}

	// Another boot (or kernel): probe again and replace the answer.
	c.BootID = "another-boot"
	data, _ := json.Marshal(c)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cachedProbe(file, probe)
	if runs != 2 {
		t.Errorf("probe ran %d times after a reboot, want 2", runs)
	}
	c.Release = "0.0.0-other"
	c.BootID = key.BootID
	data, _ = json.Marshal(c)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cachedProbe(file, probe)
	if runs != 3 {
		t.Errorf("probe ran %d times after a kernel change, want 3", runs)
	}

	// A broken file is probed over, not trusted.
	if err := os.WriteFile(file, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	cachedProbe(file, probe)
	if runs != 4 {
		t.Errorf("probe ran %d times with a broken cache, want 4", runs)
	}
}
