package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
)

// TakeAppCounters returns the summed counts of the given app ids and
// zeroes their per-CPU slots, so that the ids can count for other apps.
// The caller makes sure no live rule counts into them meanwhile.
func (c *Classifier) TakeAppCounters(ids []uint32) (Counter, error) {
	var total Counter
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return total, fmt.Errorf("possible cpus: %w", err)
	}
	zero := make([]bpf.ClassifierCounter, ncpu)
	for _, id := range ids {
		var vs []bpf.ClassifierCounter
		if err := c.objs.AppStats.Lookup(id, &vs); err != nil {
			return total, fmt.Errorf("read app counter %d: %w", id, err)
		}
		s := sumPerCPU(vs)
		total.Bytes += s.Bytes
		total.Packets += s.Packets
		if err := c.objs.AppStats.Put(id, zero); err != nil {
			return total, fmt.Errorf("zero app counter %d: %w", id, err)
		}
	}
	return total, nil
}
