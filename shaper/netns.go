package shaper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shaperdev/shaper/netlab"
)

// netnsError says a named network namespace is missing: the user's input.
type netnsError struct{ name string }

func (e netnsError) Error() string {
	return fmt.Sprintf("network namespace %q does not exist: create it with `ip netns add %s` or fix the name (see `ip netns list`)", e.name, e.name)
}
func (netnsError) BadInput() bool { return true }

// inNetns runs fn on a locked OS thread inside the named network namespace
// ("" = the caller's own). Netlink handles, TCX links and ifindexes made in
// fn belong to that namespace; bpffs pins are global, which is why pin paths
// carry the namespace name.
func inNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	if _, err := os.Stat(netnsPath(name)); errors.Is(err, os.ErrNotExist) {
		return netnsError{name}
	}
	return netlab.InNetns(name, fn)
}

// netnsPath is where `ip netns add` binds a named namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }
