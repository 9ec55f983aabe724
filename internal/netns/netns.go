// Package netns enters named network namespaces for the whole program, and
// creates and deletes them.
//
// A namespace belongs to an OS thread, not to a goroutine. Run therefore
// does its work on a dedicated goroutine locked to its own thread: the
// caller's thread never moves. When that thread cannot get back to where it
// started, the goroutine ends still locked, and the Go runtime then kills
// the thread instead of handing it, in the wrong namespace, to other
// goroutines.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir holds the named namespaces, as `ip netns` keeps them.
const Dir = "/run/netns"

// NotExistError says a named namespace does not exist. It matches
// os.ErrNotExist with errors.Is.
type NotExistError struct{ Name string }

func (e *NotExistError) Error() string {
	return fmt.Sprintf("network namespace %q does not exist (no %s): create it with `ip netns add %s` or fix the name (see `ip netns list`)",
		e.Name, filepath.Join(Dir, e.Name), e.Name)
}

func (e *NotExistError) Is(target error) bool { return target == os.ErrNotExist }

// Path is where a named namespace is bind mounted.
func Path(name string) string { return filepath.Join(Dir, name) }

// Exists reports whether a named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// Run runs fn on a locked OS thread inside the named namespace and returns
// fn's error. Sockets, netlink handles, links, TCX attachments and child
// processes made in fn belong to that namespace; fn must not start
// goroutines that expect to be there too. A panic in fn is raised again in
// the caller, and runtime.Goexit (t.FailNow in a test) ends the caller's
// goroutine too, as if fn had run there.
func Run(name string, fn func() error) error {
	target, err := vns.GetFromName(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &NotExistError{Name: name}
		}
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer target.Close()
	return onThread(func() (bool, error) {
		if err := vns.Set(target); err != nil {
			return false, fmt.Errorf("enter netns %s: %w", name, err)
		}
		return true, nil
	}, fn)
}

// RunPrivate runs fn on a thread inside a new, anonymous namespace that
// vanishes when fn returns (the thread is always thrown away: nothing can
// be left in it).
func RunPrivate(fn func() error) error {
	return onThread(func() (bool, error) {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return false, fmt.Errorf("create a private netns: %w", err)
		}
		return false, nil // never go back: the thread dies with the namespace
	}, fn)
}

// Create makes a named namespace like `ip netns add`: a new namespace bind
// mounted on /run/netns/NAME. The thread that made it (and so entered it)
// is thrown away. An existing name is refused (os.ErrExist) and left alone;
// a namespace that could not be made is not left half made.
func Create(name string) error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	f.Close()
	err = onThread(func() (bool, error) {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return false, fmt.Errorf("unshare: %w", err)
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return false, fmt.Errorf("bind mount on %s: %w", path, err)
		}
		return false, nil // never go back: the thread is in the new namespace
	}, func() error { return nil })
	if err != nil {
		_ = os.Remove(path) // ours: made above
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return nil
}

// Delete removes a named namespace like `ip netns del`. The namespace
// itself lives on while a process or open handle holds it.
func Delete(name string) error {
	if err := unix.Unmount(Path(name), unix.MNT_DETACH); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &NotExistError{Name: name}
		}
		if !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point, a stale file
			return fmt.Errorf("delete netns %s: unmount: %w", name, err)
		}
	}
	if err := os.Remove(Path(name)); err != nil {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// outcome is how fn ended on the dedicated goroutine.
type outcome struct {
	err      error
	panicked bool
	value    any // the panic's value
	exited   bool
}

// onThread runs enter then fn on a new goroutine locked to its thread.
// enter says whether the thread should go back to its original namespace
// afterwards; a thread that should not, or cannot, stays locked and dies
// with the goroutine.
func onThread(enter func() (restore bool, err error), fn func() error) error {
	done := make(chan outcome, 1)
	go func() {
		o := outcome{exited: true} // unless fn returns or panics
		defer func() { done <- o }()
		runtime.LockOSThread()
		orig, err := vns.Get()
		if err != nil {
			runtime.UnlockOSThread() // not moved yet: the thread is fine
			o = outcome{err: fmt.Errorf("get current netns: %w", err)}
			return
		}
		defer orig.Close()
		restore, err := enter()
		if err != nil {
			if back(orig) {
				runtime.UnlockOSThread()
			}
			o = outcome{err: err}
			return
		}
		o = call(fn)
		if !restore || o.panicked {
			return // thrown away with the goroutine
		}
		if err := vns.Set(orig); err != nil {
			o.err = errors.Join(o.err, fmt.Errorf("return to the original netns (thread discarded): %w", err))
			return
		}
		runtime.UnlockOSThread()
	}()
	o := <-done
	switch {
	case o.panicked:
		panic(o.value)
	case o.exited:
		runtime.Goexit()
	}
	return o.err
}

// back returns the thread to orig when a failed enter may have moved it,
// and says whether the thread is where it started.
func back(orig vns.NsHandle) bool {
	cur, err := vns.Get()
	if err != nil {
		return false
	}
	defer cur.Close()
	if cur.Equal(orig) {
		return true
	}
	return vns.Set(orig) == nil
}

// call runs fn and catches a panic. On runtime.Goexit it never returns.
func call(fn func() error) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = outcome{panicked: true, value: v}
		}
	}()
	return outcome{err: fn()}
}
