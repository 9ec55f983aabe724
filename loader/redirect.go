package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
)

// Redirect holds the shaping namespace's two programs (bpf/redirect.c):
// Inner for the inner veth end's ingress, Return for the host end's.
type Redirect struct {
	objs bpf.RedirectObjects
}

// LoadRedirect loads the shaping namespace's programs: major is the
// shaping qdisc's handle, target the shaped interface's ifindex (in the
// host end's namespace). They have no maps: nothing to pin but the hooks.
func LoadRedirect(major, target uint32) (*Redirect, error) {
	spec, err := bpf.LoadRedirect()
	if err != nil {
		return nil, fmt.Errorf("load redirect spec: %w", err)
	}
	if err := setKnob(spec, "major", major); err != nil {
		return nil, err
	}
	if err := setKnob(spec, "target", target); err != nil {
		return nil, err
	}
	r := &Redirect{}
	if err := spec.LoadAndAssign(&r.objs, nil); err != nil {
		return nil, fmt.Errorf("load redirect programs: %w", err)
	}
	return r, nil
}

// Inner is the program of the inner veth end's ingress.
func (r *Redirect) Inner() *ebpf.Program { return r.objs.ShaperInner }

// Return is the program of the host veth end's ingress.
func (r *Redirect) Return() *ebpf.Program { return r.objs.ShaperReturn }

// Close releases this process's handles; attached programs stay.
func (r *Redirect) Close() error { return r.objs.Close() }
