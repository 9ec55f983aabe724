package shaper

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
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
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, os.ErrNotExist) {
			return netnsError{name}
		}
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	defer func() {
		// A thread that cannot go back must not return to the pool:
		// leaving it locked makes the runtime end it with the goroutine.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}
