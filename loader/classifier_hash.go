package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// writeHashed writes generation gen's half of the slot tables and of
// addr_masks. A field's whole half is rewritten (empty slots included)
// when it is hashed now or was (or may have been: prev nil), so nothing
// stale is left to be probed.
func (c *Classifier) writeHashed(gen uint32, prev *classify.Tables, tabs [bpf.NumAddrs]*classify.HashTable, masks []classify.Mask) error {
	o := &c.objs
	maps := [bpf.NumAddrs]*ebpf.Map{bpf.AddrSrc4: o.Src4Slots, bpf.AddrDst4: o.Dst4Slots, bpf.AddrSrc6: o.Src6Slots, bpf.AddrDst6: o.Dst6Slots}
	mbase := gen * uint32(c.size.masks)
	for i, m := range maps {
		was := prev == nil || prev.Addr[i].Mode() == bpf.AddrHash
		if tabs[i] == nil && !was {
			continue
		}
		n := c.size.slots[i]
		base := gen * uint32(n)
		keys := make([]uint32, n)
		for j := range keys {
			keys[j] = base + uint32(j)
		}
		var err error
		if i == bpf.AddrSrc4 || i == bpf.AddrDst4 {
			_, err = m.BatchUpdate(keys, slots4(tabs[i], n, mbase), &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)})
		} else {
			_, err = m.BatchUpdate(keys, slots6(tabs[i], n, mbase), &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)})
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", m, err)
		}
	}
	if len(masks) == 0 {
		return nil
	}
	keys := make([]uint32, len(masks))
	vals := make([]bpf.ClassifierMask, len(masks))
	for j, m := range masks {
		keys[j], vals[j] = mbase+uint32(j), m.BPF()
	}
	if _, err := o.AddrMasks.BatchUpdate(keys, vals, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)}); err != nil {
		return fmt.Errorf("write address masks: %w", err)
	}
	return nil
}

// slotInfo is a slot's info word: tag (length + 1) | mask index << 8.
func slotInfo(s classify.HashSlot, mbase uint32) uint32 {
	return uint32(s.Prefix.Bits()+1) | (mbase+uint32(s.Mask))<<8
}

// slots4 and slots6 are a table as the map's values, n slots (all empty
// for a nil table).
func slots4(ht *classify.HashTable, n int, mbase uint32) []bpf.ClassifierSlot4 {
	out := make([]bpf.ClassifierSlot4, n)
	if ht == nil {
		return out
	}
	for j, s := range ht.Slots {
		if s.Prefix.IsValid() {
			a := s.Prefix.Addr().As4()
			out[j] = bpf.ClassifierSlot4{Addr: uint32(a[0]) | uint32(a[1])<<8 | uint32(a[2])<<16 | uint32(a[3])<<24,
				Info: slotInfo(s, mbase)}
		}
	}
	return out
}

func slots6(ht *classify.HashTable, n int, mbase uint32) []bpf.ClassifierSlot6 {
	out := make([]bpf.ClassifierSlot6, n)
	if ht == nil {
		return out
	}
	for j, s := range ht.Slots {
		if s.Prefix.IsValid() {
			w0, w1 := classify.Words6(s.Prefix.Addr())
			out[j] = bpf.ClassifierSlot6{Addr: [2]uint64{w0, w1}, Info: slotInfo(s, mbase)}
		}
	}
	return out
}
