package shaper

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
)

// resolveCgroups finds the id of every `cgroup:` path the apps name: the
// inode of its directory in the cgroup v2 hierarchy. A path that does not
// exist is bad input: a cgroup created later gets a new id, so matching
// it by a guess would silently never match; apply again once it exists.
// Without kernel access (shaper check) the ids are stand-ins.
func resolveCgroups(apps []policy.App, noKernel bool) (map[string]uint64, error) {
	ids := map[string]uint64{}
	root := ""
	var errs []error
	for _, a := range apps {
		for _, s := range a.Match {
			if s.Cgroup == "" || ids[s.Cgroup] != 0 {
				continue
			}
			if noKernel {
				ids[s.Cgroup] = uint64(len(ids) + 1)
				continue
			}
			if root == "" {
				r, err := loader.CgroupRoot()
				if err != nil {
					return nil, fmt.Errorf("find the cgroup v2 hierarchy for app %q: %w", a.Name, err)
				}
				root = r
			}
			id, err := loader.CgroupID(root, s.Cgroup)
			if errors.Is(err, os.ErrNotExist) {
				errs = append(errs, badInput(fmt.Errorf("%s: app %q: cgroup %s does not exist (looked in the cgroup v2 hierarchy at %s): "+
					"start the service or create the cgroup first, or fix the path (see /proc/PID/cgroup of a process in it)",
					posString(s.Pos), a.Name, s.Cgroup, root)))
				continue
			}
			if err != nil {
				errs = append(errs, badInput(fmt.Errorf("%s: app %q: cgroup %s: %w", posString(s.Pos), a.Name, s.Cgroup, err)))
				continue
			}
			ids[s.Cgroup] = id
		}
	}
	if len(errs) > 0 {
		return nil, joinBadInput(errs)
	}
	return ids, nil
}

// ensureSockets attaches the host's socket-owner program when a job's
// rules match on process or cgroup.
func ensureSockets(jobs []*job, out io.Writer) error {
	need := false
	for _, j := range jobs {
		for _, t := range j.tables {
			need = need || t.UseProc() || t.UseCgroup()
		}
	}
	if !need || loader.SockAttached() {
		return nil
	}
	n, err := loader.EnsureSock()
	if err != nil {
		return fmt.Errorf("socket owners for process/cgroup selectors: %w", err)
	}
	fmt.Fprintf(out, "socket owners: cgroup/sock_create attached at the cgroup v2 root; %d sockets open before recorded\n", n)
	return nil
}

// removeSocketsIfLast removes the host's socket-owner program and records
// once no interface is shaped any more.
func removeSocketsIfLast() error {
	states, err := ListStates("*")
	if err != nil || len(states) > 0 {
		return err
	}
	return loader.RemoveSock()
}

// withCgroups is b with the policy's cgroup ids.
func withCgroups(b classify.Binding, ids map[string]uint64) classify.Binding {
	b.Cgroups = ids
	return b
}
