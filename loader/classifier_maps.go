package loader

import (
	"errors"
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

// readCounters sums every entry of a per-CPU counter array, read in one
// batch (status, top and the exporter read these every second: one
// lookup syscall per entry was most of what a reading cost).
func readCounters(m *ebpf.Map) (map[uint32]Counter, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", m, err)
	}
	n := int(m.MaxEntries())
	keys := make([]uint32, n)
	vals := make([]bpf.ClassifierCounter, n*ncpu)
	var cur ebpf.MapBatchCursor
	got, err := m.BatchLookup(&cur, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return readCountersEach(m) // batch operations refused: one by one
	}
	out := map[uint32]Counter{}
	for i := range got {
		if s := sumPerCPU(vals[i*ncpu : (i+1)*ncpu]); s != (Counter{}) {
			out[keys[i]] = s
		}
	}
	return out, nil
}

func readCountersEach(m *ebpf.Map) (map[uint32]Counter, error) {
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
