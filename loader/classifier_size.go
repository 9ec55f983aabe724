package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// Sizing of the address hash tables (see the header comment of
// bpf/classifier.c): the slot maps and addr_masks hold both generations and
// are sized at load from the rules to come.

// slotMaps are the slot tables by field (bpf.Addr*).
var slotMaps = [bpf.NumAddrs]string{
	bpf.AddrSrc4: bpf.ClassifierMapSrc4Slots, bpf.AddrDst4: bpf.ClassifierMapDst4Slots,
	bpf.AddrSrc6: bpf.ClassifierMapSrc6Slots, bpf.AddrDst6: bpf.ClassifierMapDst6Slots,
}

// counterMaps are the maps that outlive a change of rule maps.
var counterMaps = map[string]bool{bpf.ClassifierMapClassStats: true, bpf.ClassifierMapAppStats: true}

// DefaultHashSlots is the slots per generation of each address table when
// the loader is not told the rules (LoadClassifier without tables): fields
// with more prefixes than half of it use the trie.
const DefaultHashSlots = 4096

// sizes are the per-generation sizes of the sized maps.
type sizes struct {
	slots [bpf.NumAddrs]int
	masks int
}

func defaultSizes() sizes {
	s := sizes{masks: classify.MasksFor(DefaultHashSlots)}
	for i := range s.slots {
		s.slots[i] = DefaultHashSlots
	}
	return s
}

// sizesFor is what t needs, at least the defaults.
func sizesFor(t *classify.Tables) sizes {
	s := defaultSizes()
	if t == nil {
		return s
	}
	slots, masks := t.HashSizes()
	for i := range s.slots {
		s.slots[i] = max(s.slots[i], slots[i])
	}
	s.masks = max(s.masks, masks)
	return s
}

// entries are the max_entries of each sized map for s.
func (s sizes) entries() map[string]int {
	out := map[string]int{bpf.ClassifierMapAddrMasks: bpf.NumGens * s.masks}
	for i, name := range slotMaps {
		out[name] = bpf.NumGens * s.slots[i]
	}
	return out
}

// pinnedEntries reads the max_entries of the sized maps pinned in dir;
// absent maps are left out.
func pinnedEntries(dir string, names map[string]int) (map[string]int, error) {
	out := map[string]int{}
	for name := range names {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s: %w", name, err)
		}
		out[name] = int(m.MaxEntries())
		m.Close()
	}
	return out, nil
}

// planPins sets the spec's sized maps' MaxEntries and the pinning of every
// map. Without a pin dir nothing is pinned. With one, pinned maps big
// enough are reused (every map pinned by name, as always); when one is too
// small, only the counters are reused and it returns fresh = true: the
// caller pins the new rule maps over the old ones after loading.
func planPins(spec *ebpf.CollectionSpec, pinDir string, want sizes) (fresh bool, err error) {
	need := want.entries()
	var pinned map[string]int
	if pinDir != "" {
		if pinned, err = pinnedEntries(pinDir, need); err != nil {
			return false, err
		}
	}
	for name, n := range need {
		if p, ok := pinned[name]; ok && p < n {
			fresh = true
		}
	}
	for name, n := range need {
		if p, ok := pinned[name]; ok && !fresh {
			n = p // reuse the pinned map, bigger than needed
		}
		spec.Maps[name].MaxEntries = uint32(n)
	}
	if pinDir == "" {
		return false, nil
	}
	for name, m := range spec.Maps {
		if strings.HasPrefix(name, ".") || sharedMaps[name] || name == bpf.ClassifierMapSockInfo || name == bpf.ClassifierMapTestIdent {
			continue // .rodata holds the knobs; shared maps: flows_pin.go; sock_info is the host's
		}
		if !fresh || counterMaps[name] {
			m.Pinning = ebpf.PinByName
		}
	}
	return fresh, nil
}

// repin pins every rule map of c in dir, replacing the pins of the older,
// smaller set. The program attached before keeps its own maps until it is
// replaced.
func (c *Classifier) repin(dir string) error {
	for name, m := range c.ruleMaps() {
		tmp := filepath.Join(dir, name+"__new") // bpffs refuses names with dots
		_ = os.Remove(tmp)
		if err := m.Pin(tmp); err != nil {
			return fmt.Errorf("pin %s: %w", name, err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pin %s: %w", name, err)
		}
	}
	return nil
}

// ruleMaps are the loaded maps other than the counters, by name.
func (c *Classifier) ruleMaps() map[string]*ebpf.Map {
	o := &c.objs
	return map[string]*ebpf.Map{
		bpf.ClassifierMapConfigMap: o.ConfigMap, bpf.ClassifierMapGenInfos: o.GenInfos, bpf.ClassifierMapSel: o.Sel,
		bpf.ClassifierMapProtoMasks: o.ProtoMasks, bpf.ClassifierMapSportMasks: o.SportMasks, bpf.ClassifierMapDportMasks: o.DportMasks,
		bpf.ClassifierMapSrc4Masks: o.Src4Masks, bpf.ClassifierMapDst4Masks: o.Dst4Masks,
		bpf.ClassifierMapSrc6Masks: o.Src6Masks, bpf.ClassifierMapDst6Masks: o.Dst6Masks,
		bpf.ClassifierMapSrc4Slots: o.Src4Slots, bpf.ClassifierMapDst4Slots: o.Dst4Slots,
		bpf.ClassifierMapSrc6Slots: o.Src6Slots, bpf.ClassifierMapDst6Slots: o.Dst6Slots,
		bpf.ClassifierMapAddrMasks: o.AddrMasks, bpf.ClassifierMapMultiIdx: o.MultiIdx,
		bpf.ClassifierMapProcMasks: o.ProcMasks, bpf.ClassifierMapCgroupMasks: o.CgroupMasks,
	}
}

// loadedSizes reads the per-generation sizes of c's maps.
func (c *Classifier) loadedSizes() sizes {
	o := &c.objs
	s := sizes{masks: int(o.AddrMasks.MaxEntries()) / bpf.NumGens}
	for i, m := range []*ebpf.Map{bpf.AddrSrc4: o.Src4Slots, bpf.AddrDst4: o.Dst4Slots, bpf.AddrSrc6: o.Src6Slots, bpf.AddrDst6: o.Dst6Slots} {
		s.slots[i] = int(m.MaxEntries()) / bpf.NumGens
	}
	return s
}
