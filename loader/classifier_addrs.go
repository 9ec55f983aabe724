package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// genInfo builds a generation's gen_info: wildcard masks, default, and per
// address field the plan the program follows (hash lengths with their
// netmasks and the table's geometry from tabs, or the trie).
func genInfo(t *classify.Tables, tabs [bpf.NumAddrs]*classify.HashTable) (bpf.ClassifierGenInfo, error) {
	gi := bpf.ClassifierGenInfo{Def: bpf.ClassifierSelVal{Classid: t.Default.ClassID, ClassSlot: t.Default.Slot}}
	for f, m := range t.Wild {
		gi.Wild[f] = classify.Mask{Multi: m}.BPF()
	}
	gi.UseProc, gi.UseCgroup = boolByte(t.UseProc()), boolByte(t.UseCgroup())
	for _, plan := range t.Addr {
		if plan.Mode() != bpf.AddrNone {
			gi.UseAddr = 1
		}
	}
	for i, plan := range t.Addr {
		a := &gi.Addr[i]
		a.Mode = plan.Mode()
		if a.Mode != bpf.AddrHash {
			continue
		}
		if len(plan.Lens) > bpf.MaxHashLens {
			return gi, fmt.Errorf("address field %d: %d prefix lengths in hash mode, at most %d (caller bug)",
				i, len(plan.Lens), bpf.MaxHashLens)
		}
		ht := tabs[i]
		if ht == nil {
			return gi, fmt.Errorf("address field %d: hash mode without a table (caller bug)", i)
		}
		a.Probes, a.Shift, a.Slots = uint8(ht.Probes), ht.Shift, uint32(len(ht.Slots))
		a.Nlens = uint8(len(plan.Lens))
		for j, l := range plan.Lens {
			a.Lens[j] = uint8(l)
			a.Netmask[j] = netmask(l)
		}
	}
	return gi, nil
}

// netmask is a prefix length as a netmask in network order (v4 uses the
// first 4 bytes).
func netmask(bits int) [16]byte {
	var m [16]byte
	for i := range m {
		switch {
		case bits >= 8*(i+1):
			m[i] = 0xff
		case bits > 8*i:
			m[i] = byte(0xff << (8*(i+1) - bits))
		}
	}
	return m
}

// addrSlot is one prefix of a field in the trie this generation (hashed
// fields live in the slot tables, see writeHashed).
type addrSlot struct {
	p   netip.Prefix
	src bool
}

func addrSlots(t *classify.Tables) map[addrSlot]classify.Mask {
	out := make(map[addrSlot]classify.Mask, len(t.Src)+len(t.Dst))
	for _, src := range []bool{true, false} {
		tab := t.Dst
		if src {
			tab = t.Src
		}
		for p, m := range tab {
			if t.Addr[classify.AddrIndex(src, p.Addr().Is4())].LPM {
				out[addrSlot{p, src}] = m
			}
		}
	}
	return out
}

// writeAddrs replaces generation gen's trie entries, which were prev's
// (nil: unknown, found by walking the maps), with t's. Deletes go first so
// the maps never hold more than both generations' limits.
func (c *Classifier) writeAddrs(gen uint32, prev, t *classify.Tables) error {
	now := addrSlots(t)
	if err := checkAddrLimits(now); err != nil {
		return err
	}
	var old map[addrSlot]classify.Mask
	if prev == nil {
		if err := c.clearAddrs(gen); err != nil {
			return err
		}
	} else {
		old = addrSlots(prev)
	}
	for s := range old {
		if _, keep := now[s]; keep {
			continue
		}
		m, key := c.addrKey(gen, s)
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete %s: %w", s.p, err)
		}
	}
	batches := map[*ebpf.Map]*batch{}
	for s, v := range now {
		if ov, ok := old[s]; ok && ov == v {
			continue
		}
		m, key := c.addrKey(gen, s)
		b := batches[m]
		if b == nil {
			b = &batch{}
			batches[m] = b
		}
		b.add(key, v.BPF())
	}
	for m, b := range batches {
		if err := b.write(m); err != nil {
			return err
		}
	}
	return nil
}

// checkAddrLimits fails when a field holds more prefixes than its trie
// keeps per generation.
func checkAddrLimits(slots map[addrSlot]classify.Mask) error {
	var n [bpf.NumAddrs]int
	for s := range slots {
		n[classify.AddrIndex(s.src, s.p.Addr().Is4())]++
	}
	for i, c := range n {
		if c > bpf.MaxLPMEntries/bpf.NumGens {
			return fmt.Errorf("address field %d: %d trie prefixes: at most %d fit", i, c, bpf.MaxLPMEntries/bpf.NumGens)
		}
	}
	return nil
}

// batch is a set of updates to one map: keys holds them as a slice of the
// map's key type (what BatchUpdate needs), elems one by one.
type batch struct {
	keys  any
	elems []any
	vals  []bpf.ClassifierMask
}

func (b *batch) add(key any, v bpf.ClassifierMask) {
	switch k := key.(type) {
	case bpf.ClassifierLpm4Key:
		b.keys = appendKey(b.keys, k)
	case bpf.ClassifierLpm6Key:
		b.keys = appendKey(b.keys, k)
	}
	b.elems = append(b.elems, key)
	b.vals = append(b.vals, v)
}

func appendKey[K any](keys any, k K) any {
	s, _ := keys.([]K)
	return append(s, k)
}

// write updates the map with the batch; element by element where the map
// type has no batch update (older kernels' tries).
func (b *batch) write(m *ebpf.Map) error {
	if len(b.elems) > 1 {
		_, err := m.BatchUpdate(b.keys, b.vals, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)})
		if err == nil {
			return nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("batch update %s (%d entries): %w", m, len(b.elems), err)
		}
	}
	for i, k := range b.elems {
		if err := m.Update(k, b.vals[i], ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update %s: %w", m, err)
		}
	}
	return nil
}

// addrKey picks the trie of a slot and builds its key.
func (c *Classifier) addrKey(gen uint32, s addrSlot) (*ebpf.Map, any) {
	o := &c.objs
	i := classify.AddrIndex(s.src, s.p.Addr().Is4())
	bits := uint32(s.p.Bits())
	if s.p.Addr().Is4() {
		return []*ebpf.Map{bpf.AddrSrc4: o.Src4Masks, bpf.AddrDst4: o.Dst4Masks}[i],
			bpf.ClassifierLpm4Key{Prefixlen: 32 + bits, Gen: gen, Addr: s.p.Addr().As4()}
	}
	return []*ebpf.Map{bpf.AddrSrc6: o.Src6Masks, bpf.AddrDst6: o.Dst6Masks}[i],
		bpf.ClassifierLpm6Key{Prefixlen: 32 + bits, Gen: gen, Addr: s.p.Addr().As16()}
}

// clearAddrs deletes every entry of generation gen from the tries.
func (c *Classifier) clearAddrs(gen uint32) error {
	o := &c.objs
	for _, m := range []*ebpf.Map{o.Src4Masks, o.Dst4Masks} {
		if err := clearGen(m, gen, func(k *bpf.ClassifierLpm4Key) uint32 { return k.Gen }); err != nil {
			return err
		}
	}
	for _, m := range []*ebpf.Map{o.Src6Masks, o.Dst6Masks} {
		if err := clearGen(m, gen, func(k *bpf.ClassifierLpm6Key) uint32 { return k.Gen }); err != nil {
			return err
		}
	}
	return nil
}

// clearGen deletes every key of generation gen.
func clearGen[K any](m *ebpf.Map, gen uint32, genOf func(*K) uint32) error {
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
