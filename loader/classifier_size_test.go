package loader

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
)

// TestClassifierPinnedGrow checks the sizing of pinned hash tables: a
// policy that needs bigger tables gets fresh rule maps (pins replaced)
// and keeps the pinned counters; a later smaller one reuses the bigger
// maps, and the field stays hashed.
func TestClassifierPinnedGrow(t *testing.T) {
	labtest.Root(t)
	parent := filepath.Join("/sys/fs/bpf", labtest.UniqueName("shaper-grow"))
	t.Cleanup(func() { os.RemoveAll(parent) })
	dir := filepath.Join(parent, "egress") // a hook's directory: the shared maps go beside it
	b := classify.Binding{AppID: map[string]uint32{"a": 1}}
	var many []netip.Prefix
	for i := range 3000 { // more than DefaultHashSlots/2
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32))
	}
	big, err := classify.Compile([]policy.App{{Name: "a", Match: []policy.Selector{{Src: many}}}}, b)
	if err != nil {
		t.Fatal(err)
	}
	load := func(rules *classify.Tables) (*Classifier, ebpf.MapID, ebpf.MapID) {
		t.Helper()
		c, err := LoadClassifierFor(Knobs{}, dir, rules)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if rules != nil {
			if err := c.Update(rules); err != nil {
				t.Fatal(err)
			}
		}
		return c, mapID(t, c.objs.AppStats), mapID(t, c.objs.Src4Slots)
	}
	_, app0, slots0 := load(nil)
	c1, app1, slots1 := load(big)
	if app1 != app0 || slots1 == slots0 {
		t.Errorf("grow: app_stats %d→%d (want kept), src4_slots %d→%d (want new)", app0, app1, slots0, slots1)
	}
	if got := c1.size.slots[bpf.AddrSrc4]; got != classify.SlotsFor(3000) {
		t.Errorf("src4 slots %d, want %d", got, classify.SlotsFor(3000))
	}
	if c1.written[1].Addr[bpf.AddrSrc4].LPM {
		t.Error("src4 went to the trie after growing")
	}
	pinned, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.ClassifierMapSrc4Slots), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	if id := mapIDOf(t, pinned); id != slots1 {
		t.Errorf("pinned src4_slots is map %d, want the new %d", id, slots1)
	}
	_, app2, slots2 := load(nil) // smaller: reuses the big maps
	if app2 != app0 || slots2 != slots1 {
		t.Errorf("reuse: app_stats %d, src4_slots %d; want %d, %d", app2, slots2, app0, slots1)
	}
}

func mapID(t *testing.T, m *ebpf.Map) ebpf.MapID { t.Helper(); return mapIDOf(t, m) }

func mapIDOf(t *testing.T, m *ebpf.Map) ebpf.MapID {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}
