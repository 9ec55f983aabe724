// Package labtest holds the helpers every privileged test uses: the root
// gate (skip as non-root, fail under CI) and uniquely named network
// namespaces that are removed when the test ends, also when it fails.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/netlab"
)

// Root skips the test with a message when not running as root, and fails
// it instead when CI is set: CI must never skip privileged tests.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("privileged test needs root, and CI is set: run as root")
	}
	t.Skip("privileged test: run as root (sudo -E go test ./...) to include it")
}

// UniqueName returns prefix plus a short random suffix, at most 15 bytes
// (an interface name's limit), so leftovers of a crashed run never collide.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	if len(name) > 15 {
		name = name[len(name)-15:]
	}
	return name
}

// Netns creates a named network namespace (visible to `ip netns`) and
// removes it when the test ends. The calling thread's namespace is left
// unchanged.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	Root(t)
	name := UniqueName(prefix)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
	})
	return name
}

// In runs fn on a locked OS thread inside the named namespace (see
// internal/netns.Run); the caller's thread does not move. t.Fatal inside fn
// ends the test as it would outside.
func In(name string, fn func() error) error { return netns.Run(name, fn) }

// Lab parses a topology, brings it up under a unique name and removes it
// when the test ends, also when it fails. Parse or build errors fail the
// test.
func Lab(t testing.TB, topoYAML string) *netlab.Lab {
	t.Helper()
	topo, err := netlab.Parse(t.Name()+".yaml", []byte(topoYAML))
	if err != nil {
		t.Fatalf("parse lab topology:\n%v", err)
	}
	return LabFrom(t, topo)
}

// LabFrom brings up a parsed topology (a shipped example, say) under a
// unique name, with Down registered on cleanup.
func LabFrom(t testing.TB, topo *netlab.Topology, opts ...netlab.Option) *netlab.Lab {
	t.Helper()
	Root(t)
	opts = append([]netlab.Option{netlab.WithName(UniqueName("lt-"))}, opts...)
	lab, err := netlab.Up(context.Background(), topo, opts...)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Down(); err != nil {
			t.Errorf("lab %s down: %v", lab.Name(), err)
		}
	})
	return lab
}
