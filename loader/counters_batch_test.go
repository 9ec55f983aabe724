package loader

import (
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// The batched read sums per-CPU counters exactly as the iterator does, and
// counting a pinned hash map's entries in batches finds every one.
func TestReadCountersBatch(t *testing.T) {
	labtest.Root(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: bpf.MaxApps})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []uint32{0, 1, 517, bpf.MaxApps - 1} {
		vs := make([]bpf.ClassifierCounter, ncpu)
		for c := range vs {
			vs[c] = bpf.ClassifierCounter{Bytes: uint64(k)<<33 + uint64(c), Packets: uint64(k) + 1}
		}
		if err := m.Put(k, vs); err != nil {
			t.Fatal(err)
		}
	}
	want, err := readCounters(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCountersBatch(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("batched %d entries, iterated %d, want 4 each", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("slot %d: batched %+v, iterated %+v", k, got[k], w)
		}
	}

	h, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 40, ValueSize: 24, MaxEntries: 40000})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const n = 33333 // more than two batches
	keys := make([][40]byte, n)
	vals := make([][24]byte, n)
	for i := range keys {
		keys[i][0], keys[i][1], keys[i][2] = byte(i), byte(i>>8), byte(i>>16)
	}
	if _, err := h.BatchUpdate(keys, vals, nil); err != nil {
		t.Fatal(err)
	}
	if err := EnsureBPFFS(BPFFSRoot); err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(BPFFSRoot, labtest.UniqueName("test-flows-"))
	if err := h.Pin(pin); err != nil {
		t.Fatal(err)
	}
	defer h.Unpin()
	u, ok, err := PinnedMapUsage(pin)
	if err != nil || !ok {
		t.Fatalf("usage: %v %v", ok, err)
	}
	if u.Entries != n || u.Capacity != 40000 {
		t.Errorf("usage %+v, want %d of 40000", u, n)
	}
	if _, ok, err := PinnedMapUsage(pin + "-missing"); ok || err != nil {
		t.Errorf("a missing pin: ok %v err %v, want neither", ok, err)
	}
}
