package loader

import (
	"errors"
	"fmt"
	"os"
	"reflect"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
)

// batchSize is how many entries one BPF_MAP_LOOKUP_BATCH call reads: a
// scrape's cost stays a few syscalls per map however many apps there are.
const batchSize = 16384

// readCountersBatch sums a per-CPU counter array in batches; kernels
// without batch lookups fall back to the iterator (one syscall per entry).
func readCountersBatch(m *ebpf.Map) (map[uint32]Counter, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	n := min(int(m.MaxEntries()), batchSize)
	keys := make([]uint32, n)
	vals := make([]bpf.ClassifierCounter, n*ncpu)
	out := map[uint32]Counter{}
	var cursor ebpf.MapBatchCursor
	for {
		got, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := range got {
			if s := sumPerCPU(vals[i*ncpu : (i+1)*ncpu]); s != (Counter{}) {
				out[keys[i]] = s
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return readCounters(m)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", m, err)
		}
		if got == 0 {
			return out, nil
		}
	}
}

// MapUsage is how full a pinned map is.
type MapUsage struct {
	Entries, Capacity uint64
}

// PinnedMapUsage counts the entries of the map pinned at path in batches
// (keys and values read as raw bytes: any key and value type). A missing
// pin gives ok false and no error.
func PinnedMapUsage(path string) (u MapUsage, ok bool, err error) {
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return u, false, nil
	}
	if err != nil {
		return u, false, fmt.Errorf("open pinned map %s: %w", path, err)
	}
	defer m.Close()
	u.Capacity = uint64(m.MaxEntries())
	u.Entries, err = countEntries(m)
	return u, err == nil, err
}

func countEntries(m *ebpf.Map) (uint64, error) {
	n := min(int(m.MaxEntries()), batchSize)
	vlen := n
	if m.Type() == ebpf.PerCPUHash || m.Type() == ebpf.LRUCPUHash {
		ncpu, err := ebpf.PossibleCPU()
		if err != nil {
			return 0, fmt.Errorf("possible cpus: %w", err)
		}
		vlen = n * ncpu
	}
	keys := rawSlice(int(m.KeySize()), n)
	vals := rawSlice(int(m.ValueSize()), vlen)
	var total uint64
	var cursor ebpf.MapBatchCursor
	for {
		got, err := m.BatchLookup(&cursor, keys, vals, nil)
		total += uint64(got)
		if errors.Is(err, ebpf.ErrKeyNotExist) || (err == nil && got == 0) {
			return total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("count entries of %s: %w", m, err)
		}
	}
}

// rawSlice makes a []([size]byte) of n elements: a typed slice the batch
// calls accept whatever the map's key or value type is.
func rawSlice(size, n int) any {
	return reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeFor[byte]())), n, n).Interface()
}

// PinnedMapCapacity returns the max entries of the map pinned at path; a
// missing pin gives ok false and no error.
func PinnedMapCapacity(path string) (capacity uint64, ok bool, err error) {
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open pinned map %s: %w", path, err)
	}
	defer m.Close()
	return uint64(m.MaxEntries()), true, nil
}
