package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/classify"
)

// waitForPrograms returns once every BPF program that was running when it
// was called has finished. The kernel waits for a grace period on every
// update of a map-in-map from user space "so that userspace, when we
// return to it, knows that all programs that could be running use the new
// map value" (maybe_wait_bpf_programs in kernel/bpf/syscall.c): after a
// generation flip, this is what makes the old generation free to write.
func waitForPrograms() error {
	inner := &ebpf.MapSpec{Name: "shaper_sync_in", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	in, err := ebpf.NewMap(inner)
	if err != nil {
		return fmt.Errorf("wait for programs: inner map: %w", err)
	}
	defer in.Close()
	out, err := ebpf.NewMap(&ebpf.MapSpec{Name: "shaper_sync", Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4,
		MaxEntries: 1, InnerMap: inner})
	if err != nil {
		return fmt.Errorf("wait for programs: outer map: %w", err)
	}
	defer out.Close()
	if err := out.Update(uint32(0), in, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("wait for programs: %w", err)
	}
	return nil
}

// Assume tells c that generation gen holds rules t (as an earlier apply
// recorded), so that the next write to it changes only what differs.
// t must be exactly what was written there: a wrong guess leaves stale
// entries.
func (c *Classifier) Assume(gen uint32, t *classify.Tables) {
	eff, _, _ := t.Hashed(c.size.slots, c.size.masks)
	c.written[gen&1] = eff
}

// Mirror writes rules t, which Update just made active, into the other
// generation too, once no program can still be running on it (attached:
// a program may be; otherwise nobody reads these maps yet). Both
// generations then hold t, and the next apply, which knows t from the
// state, writes only what changed instead of whole generations.
func (c *Classifier) Mirror(t *classify.Tables, attached bool) error {
	active, err := c.Gen()
	if err != nil {
		return err
	}
	if attached {
		if err := waitForPrograms(); err != nil {
			return err
		}
	}
	other := active ^ 1
	eff, tabs, masks := t.Hashed(c.size.slots, c.size.masks)
	if err := c.writeGen(other, c.written[other], eff, tabs, masks); err != nil {
		c.written[other] = nil
		return fmt.Errorf("mirror rules into generation %d: %w", other, err)
	}
	c.written[other] = eff
	return nil
}
