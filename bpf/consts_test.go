package bpf

import (
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// TestConstsMatchObject checks the hand-mirrored #defines of consts.go
// against the compiled object: map sizes, BTF array lengths and struct
// sizes, and the hash multipliers among the program's 64-bit immediates.
// (Enums come from bpf2go -type and need no check.)
func TestConstsMatchObject(t *testing.T) {
	spec, err := LoadClassifier()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{
		ClassifierMapSel:         NumGens * SelEntries,
		ClassifierMapMultiIdx:    NumGens * MaxMulti,
		ClassifierMapProcMasks:   MaxComms,
		ClassifierMapCgroupMasks: MaxComms,
		ClassifierMapProtoMasks:  NumGens * 256,
		ClassifierMapSportMasks:  NumGens * NumPorts,
		ClassifierMapDportMasks:  NumGens * NumPorts,
		ClassifierMapSrc4Masks:   MaxLPMEntries,
		ClassifierMapDst6Masks:   MaxLPMEntries,
		ClassifierMapSrc4Slots:   NumGens * MinSlots,
		ClassifierMapDst6Slots:   NumGens * MinSlots,
		ClassifierMapAddrMasks:   NumGens * MinMasks,
		ClassifierMapGenInfos:    NumGens,
		ClassifierMapClassStats:  MaxClassSlots,
		ClassifierMapAppStats:    MaxApps,
	} {
		if got := spec.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s: max_entries %d in the object, consts.go says %d", name, got, want)
		}
	}
	arrayLen := func(strct, member string) uint32 {
		var s *btf.Struct
		if err := spec.Types.TypeByName(strct, &s); err != nil {
			t.Fatalf("btf struct %s: %v", strct, err)
		}
		for _, m := range s.Members {
			if m.Name == member {
				if a, ok := m.Type.(*btf.Array); ok {
					return a.Nelems
				}
			}
		}
		t.Fatalf("struct %s has no array member %s", strct, member)
		return 0
	}
	for _, c := range []struct {
		strct, member string
		want          uint32
	}{
		{"mask", "w", MaxMulti / 64},
		{"sock_info", "comm", CommLen},
		{"addr_info", "lens", MaxHashLens},
		{"addr_info", "netmask", MaxHashLens},
		{"gen_info", "wild", uint32(NumFields)},
		{"gen_info", "addr", uint32(NumAddrs)},
	} {
		if got := arrayLen(c.strct, c.member); got != c.want {
			t.Errorf("%s.%s: %d elements in the object, consts.go says %d", c.strct, c.member, got, c.want)
		}
	}
	consts := map[uint64]bool{}
	for _, ins := range spec.Programs["shaper_classify"].Instructions {
		if ins.IsConstantLoad(asm.DWord) {
			consts[uint64(ins.Constant)] = true
		}
	}
	for name, v := range map[string]uint64{"HashMul1": HashMul1, "HashMul2": HashMul2} {
		if !consts[v] {
			t.Errorf("%s %#x is not a constant of the program", name, v)
		}
	}
}
