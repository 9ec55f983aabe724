package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// writePrefixes replaces generation gen's entries of the v4 and v6 LPM
// tries with tab's. prev is what the generation held; with unknown set it
// is found by walking the tries instead.
func writePrefixes(m4, m6 *ebpf.Map, gen uint32, tab, prev map[netip.Prefix]classify.Mask, unknown bool) error {
	n4 := 0
	for p := range tab {
		if p.Addr().Is4() {
			n4++
		}
	}
	if limit := bpf.MaxLPMEntries / bpf.NumGens; n4 > limit || len(tab)-n4 > limit {
		return fmt.Errorf("%d IPv4 and %d IPv6 prefixes: at most %d of each fit", n4, len(tab)-n4, limit)
	}
	if unknown {
		if err := clearLPM(m4, gen, func(k *bpf.ClassifierLpm4Key) uint32 { return k.Gen }); err != nil {
			return err
		}
		if err := clearLPM(m6, gen, func(k *bpf.ClassifierLpm6Key) uint32 { return k.Gen }); err != nil {
			return err
		}
	}
	for p := range prev {
		if _, keep := tab[p]; keep {
			continue
		}
		m, key := lpmKey(m4, m6, gen, p)
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	for p, v := range tab {
		if old, ok := prev[p]; ok && old == v && !unknown {
			continue
		}
		m, key := lpmKey(m4, m6, gen, p)
		if err := m.Update(key, v.BPF(), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// lpmKey picks the trie of p's family and builds its key: the generation
// fills the first 32 bits of the matched data.
func lpmKey(m4, m6 *ebpf.Map, gen uint32, p netip.Prefix) (*ebpf.Map, any) {
	if p.Addr().Is4() {
		return m4, &bpf.ClassifierLpm4Key{Prefixlen: 32 + uint32(p.Bits()), Gen: gen, Addr: p.Addr().As4()}
	}
	return m6, &bpf.ClassifierLpm6Key{Prefixlen: 32 + uint32(p.Bits()), Gen: gen, Addr: p.Addr().As16()}
}

// clearLPM deletes every key of generation gen.
func clearLPM[K any](m *ebpf.Map, gen uint32, genOf func(*K) uint32) error {
	var (
		k    K
		v    bpf.ClassifierMask
		dead []K
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if genOf(&k) == gen {
			dead = append(dead, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("walk %s: %w", m, err)
	}
	for i := range dead {
		if err := m.Delete(&dead[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clear %s: %w", m, err)
		}
	}
	return nil
}

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
