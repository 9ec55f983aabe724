package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/bpf"
)

// The read side of the flow table, for status, top and the exporter.

// FlowTable is how full an interface's flow table is.
type FlowTable struct {
	Entries  int `json:"entries"`
	Capacity int `json:"capacity"`
	// Misses are packets that found no entry (each made one).
	Misses uint64 `json:"misses"`
	// Evictions are misses of TCP packets without SYN: established flows
	// whose entry the LRU evicted for newer ones (and flows older than the
	// table, once each).
	Evictions uint64 `json:"evictions"`
}

// Flow is one flow table entry, as egress sees the flow: Src and SPort are
// the local end for traffic this host sends. Index 0 of the per-direction
// fields is up (the egress hook), 1 down (the ingress hook).
type Flow struct {
	Proto     uint8      `json:"proto"`
	Src       netip.Addr `json:"src"`
	Dst       netip.Addr `json:"dst"`
	SPort     uint16     `json:"sport"`
	DPort     uint16     `json:"dport"`
	Seen      [2]bool    `json:"seen"` // the direction has a verdict
	App       [2]uint32  `json:"app"`
	ClassID   [2]uint32  `json:"classid"`
	Bytes     [2]uint64  `json:"bytes"`
	Packets   [2]uint64  `json:"packets"`
	FirstSeen uint64     `json:"first_seen_ns"` // CLOCK_MONOTONIC, as MonotonicNow
	LastSeen  uint64     `json:"last_seen_ns"`
	PID       uint32     `json:"pid,omitempty"`
	Comm      string     `json:"comm,omitempty"`
	Cgroup    uint64     `json:"cgroup,omitempty"`
}

// MonotonicNow is the clock of Flow.FirstSeen and LastSeen in ns.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return uint64(ts.Nano())
}

// flowBatch is how many entries one BatchLookup call reads.
const flowBatch = 512

// ReadFlows reads every entry of the flow table pinned in sharedDir
// (SharedDir) in batches, and its fill. No pins yet: no flows, no error.
func ReadFlows(sharedDir string) ([]Flow, FlowTable, error) {
	var ft FlowTable
	m, err := openShared(sharedDir, bpf.ClassifierMapFlows)
	if err != nil || m == nil {
		return nil, ft, err
	}
	defer m.Close()
	ft.Capacity = int(m.MaxEntries())
	var out []Flow
	err = eachFlow(m, func(k *bpf.ClassifierFlowKey, v *bpf.ClassifierFlowVal) {
		out = append(out, flowOf(k, v))
	})
	if err != nil {
		return nil, ft, err
	}
	ft.Entries = len(out)
	ft.Misses, ft.Evictions, err = ReadFlowMisses(sharedDir)
	return out, ft, err
}

// ReadFlowTable is ReadFlows without the flows: the fill and misses.
func ReadFlowTable(sharedDir string) (FlowTable, error) {
	var ft FlowTable
	m, err := openShared(sharedDir, bpf.ClassifierMapFlows)
	if err != nil || m == nil {
		return ft, err
	}
	defer m.Close()
	ft.Capacity = int(m.MaxEntries())
	if err := eachFlow(m, func(*bpf.ClassifierFlowKey, *bpf.ClassifierFlowVal) { ft.Entries++ }); err != nil {
		return ft, err
	}
	ft.Misses, ft.Evictions, err = ReadFlowMisses(sharedDir)
	return ft, err
}

func openShared(dir, name string) (*ebpf.Map, error) {
	p := filepath.Join(dir, name)
	m, err := ebpf.LoadPinnedMap(p, &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", p, err)
	}
	return m, nil
}

// eachFlow calls fn for every entry of m, read flowBatch at a time.
func eachFlow(m *ebpf.Map, fn func(*bpf.ClassifierFlowKey, *bpf.ClassifierFlowVal)) error {
	keys := make([]bpf.ClassifierFlowKey, flowBatch)
	vals := make([]bpf.ClassifierFlowVal, flowBatch)
	var cur ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cur, keys, vals, nil)
		for i := range n {
			fn(&keys[i], &vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil // the end
		}
		if err != nil {
			return fmt.Errorf("read flows: %w", err)
		}
	}
}

// ReadFlowMisses sums the flow table's miss counters: all misses, and those
// of a TCP packet without SYN (an established flow the LRU evicted).
func ReadFlowMisses(dir string) (all, nosyn uint64, err error) {
	m, err := openShared(dir, bpf.ClassifierMapFlowMisses)
	if err != nil || m == nil {
		return 0, 0, err
	}
	defer m.Close()
	for i, dst := range []*uint64{&all, &nosyn} {
		var vs []uint64
		if err := m.Lookup(uint32(i), &vs); err != nil {
			return 0, 0, fmt.Errorf("read flow misses: %w", err)
		}
		for _, v := range vs {
			*dst += v
		}
	}
	return all, nosyn, nil
}

func flowOf(k *bpf.ClassifierFlowKey, v *bpf.ClassifierFlowVal) Flow {
	f := Flow{Proto: k.Proto, SPort: k.Sport, DPort: k.Dport, FirstSeen: v.FirstSeen, LastSeen: v.LastSeen,
		PID: v.Pid, Cgroup: v.Cgroup, Bytes: v.Bytes, Packets: v.Packets}
	if k.Family == 6 {
		f.Src, f.Dst = netip.AddrFrom16(k.Src), netip.AddrFrom16(k.Dst)
	} else {
		f.Src, f.Dst = netip.AddrFrom4([4]byte(k.Src[:4])), netip.AddrFrom4([4]byte(k.Dst[:4]))
	}
	for d := range 2 {
		f.Seen[d] = v.Seen&(1<<d) != 0
		f.App[d], f.ClassID[d] = uint32(v.App[d]), v.Classid[d]
	}
	var comm []byte
	for _, c := range v.Comm {
		if c == 0 {
			break
		}
		comm = append(comm, byte(c))
	}
	f.Comm = string(comm)
	return f
}

// Flows reads the flow table c runs on (the same as ReadFlows of its
// shared directory, for a classifier loaded without pins).
func (c *Classifier) Flows() ([]Flow, error) {
	var out []Flow
	err := eachFlow(c.objs.Flows, func(k *bpf.ClassifierFlowKey, v *bpf.ClassifierFlowVal) {
		out = append(out, flowOf(k, v))
	})
	return out, err
}
