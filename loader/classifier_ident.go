package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// The process and cgroup fields live in hash maps keyed by generation and
// value (comm, cgroup id): a generation's write deletes the keys it held
// before and not now, and updates the rest.

func procKey(gen uint32, comm string) bpf.ClassifierProcKey {
	k := bpf.ClassifierProcKey{Gen: gen}
	for i := 0; i < len(comm) && i < bpf.CommLen-1; i++ {
		k.Comm[i] = int8(comm[i])
	}
	return k
}

func (c *Classifier) writeIdents(gen uint32, prev, t *classify.Tables) error {
	o := &c.objs
	if err := writeHash(o.ProcMasks, gen, prev == nil, keysOf(t.Process, gen, procKey), keysOf(prevProc(prev), gen, procKey),
		func(k bpf.ClassifierProcKey) uint32 { return k.Gen }); err != nil {
		return fmt.Errorf("process masks: %w", err)
	}
	cgKey := func(gen uint32, id uint64) bpf.ClassifierCgroupKey { return bpf.ClassifierCgroupKey{Gen: gen, Id: id} }
	if err := writeHash(o.CgroupMasks, gen, prev == nil, keysOf(t.Cgroup, gen, cgKey), keysOf(prevCgroup(prev), gen, cgKey),
		func(k bpf.ClassifierCgroupKey) uint32 { return k.Gen }); err != nil {
		return fmt.Errorf("cgroup masks: %w", err)
	}
	return nil
}

func prevProc(t *classify.Tables) map[string]classify.Mask {
	if t == nil {
		return nil
	}
	return t.Process
}

func prevCgroup(t *classify.Tables) map[uint64]classify.Mask {
	if t == nil {
		return nil
	}
	return t.Cgroup
}

func keysOf[V comparable, K comparable](tab map[V]classify.Mask, gen uint32, key func(uint32, V) K) map[K]classify.Mask {
	out := make(map[K]classify.Mask, len(tab))
	for v, m := range tab {
		out[key(gen, v)] = m
	}
	return out
}

// writeHash makes generation gen of m hold want: it deletes the keys of
// prev not in want (all of the generation's keys when unknown) and writes
// want's.
func writeHash[K comparable](m *ebpf.Map, gen uint32, unknown bool, want, prev map[K]classify.Mask, genOf func(K) uint32) error {
	var stale []K
	if unknown {
		var k K
		var v bpf.ClassifierMask
		it := m.Iterate()
		for it.Next(&k, &v) {
			if _, ok := want[k]; !ok && genOf(k) == gen {
				stale = append(stale, k)
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	for k := range prev {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete: %w", err)
		}
	}
	for k, v := range want {
		if err := m.Update(k, v.BPF(), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update: %w", err)
		}
	}
	return nil
}
