package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
)

// ClassCounters returns the bytes and packets counted per class slot (the
// HTB minor id), summed over CPUs; slots never hit are left out.
func (c *Classifier) ClassCounters() (map[uint32]Counter, error) {
	return readCounters(c.objs.ClassStats)
}

// AppCounters returns the bytes and packets counted per app id (0 =
// unmatched), summed over CPUs; apps never hit are left out.
func (c *Classifier) AppCounters() (map[uint32]Counter, error) {
	return readCounters(c.objs.AppStats)
}

func readCounters(m *ebpf.Map) (map[uint32]Counter, error) {
	out := map[uint32]Counter{}
	var (
		k  uint32
		vs []bpf.ClassifierCounter
	)
	it := m.Iterate()
	for it.Next(&k, &vs) {
		if s := sumPerCPU(vs); s != (Counter{}) {
			out[k] = s
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", m, err)
	}
	return out, nil
}

// sumPerCPU adds up one entry's per-CPU values.
func sumPerCPU(vs []bpf.ClassifierCounter) Counter {
	var s Counter
	for _, v := range vs {
		s.Bytes += v.Bytes
		s.Packets += v.Packets
	}
	return s
}
