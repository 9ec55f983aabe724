package shaper

import (
	"errors"
	"fmt"

	"github.com/shaperdev/shaper/internal/netns"
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
	err := netns.Run(name, fn)
	if nx := (*netns.NotExistError)(nil); errors.As(err, &nx) && nx.Name == name {
		return netnsError{name}
	}
	return err
}
