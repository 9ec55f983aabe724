package loader

import (
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// Namespace keys are one to one: every name decodes back from its key, no
// name gets the root's key, and keys are usable single path elements.
func TestPinKeyOneToOne(t *testing.T) {
	names := []string{"host", "@root", "%40root", "root", "a.b", "a%2eb", ".x", "x%", "@", "%", "lab-1_x"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab.%@2e4f0-_"
	for range 20000 {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		names = append(names, string(b))
	}
	seen := map[string]string{RootNetnsKey: ""}
	if NetnsKey("") != RootNetnsKey {
		t.Fatalf("NetnsKey(\"\") = %q, want %q", NetnsKey(""), RootNetnsKey)
	}
	for _, n := range names {
		k := NetnsKey(n)
		if prev, ok := seen[k]; ok && prev != n {
			t.Fatalf("namespaces %q and %q share key %q", prev, n, k)
		}
		seen[k] = n
		if back, err := url.PathUnescape(k); err != nil || back != n {
			t.Errorf("key %q of %q decodes to %q (%v)", k, n, back, err)
		}
		if strings.ContainsAny(k, "./@") {
			t.Errorf("key %q of %q has '.', '/' or '@'", k, n)
		}
	}
	// The old layout: root and "host" collided there, which is the bug.
	if LegacyNetnsKey("") != LegacyNetnsKey("host") || LegacyNetnsKey("a.b") != "a%2eb" {
		t.Errorf("legacy keys changed: %q %q %q", LegacyNetnsKey(""), LegacyNetnsKey("host"), LegacyNetnsKey("a.b"))
	}
}

// Pins an older shaper made for the root namespace (under "host") move to
// the root's key with their content; pins of a namespace whose key did
// not change stay put.
func TestPinMigrate(t *testing.T) {
	labtest.Root(t)
	if err := EnsureBPFFS(BPFFSRoot); err != nil {
		t.Fatal(err)
	}
	ifname := labtest.UniqueName("mig")
	legacy := filepath.Join(pinRoot, LegacyNetnsKey(""), ifname)
	t.Cleanup(func() {
		_ = os.RemoveAll(legacy)
		_ = RemoveIfacePins("", ifname)
	})
	if err := os.MkdirAll(filepath.Join(legacy, "egress", "marker"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := MigratePins("", ifname); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(PinDir("", ifname, Egress), "marker")); err != nil {
		t.Errorf("pins not moved to %s: %v", PinDir("", ifname, Egress), err)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("old pin dir %s still there: %v", legacy, err)
	}
	if err := MigratePins("", ifname); err != nil {
		t.Errorf("second migration (nothing to move): %v", err)
	}
	// Both layouts present: refuse rather than guess.
	if err := os.MkdirAll(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := MigratePins("", ifname); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("pins in both layouts: got %v, want an error naming both", err)
	}
}
