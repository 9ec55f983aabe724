package loader

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/policy"
)

func TestClassifierNetmask(t *testing.T) {
	for _, tc := range []struct {
		bits int
		want netip.Addr // the mask as an address of 16 bytes
	}{
		{0, netip.MustParseAddr("::")},
		{1, netip.MustParseAddr("8000::")},
		{24, netip.MustParseAddr("ffff:ff00::")},
		{31, netip.MustParseAddr("ffff:fffe::")},
		{32, netip.MustParseAddr("ffff:ffff::")},
		{65, netip.MustParseAddr("ffff:ffff:ffff:ffff:8000::")},
		{127, netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")},
		{128, netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
	} {
		if got := netmask(tc.bits); got != tc.want.As16() {
			t.Errorf("netmask(%d) = %x, want %x", tc.bits, got, tc.want.As16())
		}
	}
}

func TestClassifierGenInfo(t *testing.T) {
	apps := []policy.App{
		{Name: "a", Match: []policy.Selector{{Src: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("198.18.1.1/32")}}}},
		{Name: "b", Match: []policy.Selector{{Protos: []uint8{6}}}},
	}
	b := classify.Binding{AppID: map[string]uint32{"a": 1, "b": 2}, Default: classify.Class{ClassID: 0x10030, Slot: 0x30}}
	tab, err := classify.Compile(apps, b)
	if err != nil {
		t.Fatal(err)
	}
	s := defaultSizes()
	_, tabs, _ := tab.Hashed(s.slots, s.masks)
	gi, err := genInfo(tab, tabs)
	if err != nil {
		t.Fatal(err)
	}
	if gi.Def.Classid != 0x10030 || gi.Def.ClassSlot != 0x30 || gi.Wild[bpf.FieldSrc].W != tab.Wild[bpf.FieldSrc] {
		t.Errorf("default %+v wild %+v", gi.Def, gi.Wild)
	}
	s4 := gi.Addr[bpf.AddrSrc4]
	if s4.Mode != bpf.AddrHash || s4.Nlens != 2 || s4.Lens != [4]uint8{32, 24} ||
		s4.Netmask[0] != netmask(32) || s4.Netmask[1] != netmask(24) ||
		s4.Slots != DefaultHashSlots || s4.Shift != 64-12 || s4.Probes < 1 || s4.Probes > bpf.MaxProbes {
		t.Errorf("src4 %+v", s4)
	}
	for _, f := range []int{bpf.AddrDst4, bpf.AddrSrc6, bpf.AddrDst6} {
		if gi.Addr[f] != (bpf.ClassifierAddrInfo{}) {
			t.Errorf("field %d: %+v, want none", f, gi.Addr[f])
		}
	}
	tab.Addr[bpf.AddrSrc4].LPM = true
	if gi, _ := genInfo(tab, tabs); gi.Addr[bpf.AddrSrc4].Mode != bpf.AddrLPM {
		t.Errorf("forced trie: %+v", gi.Addr[bpf.AddrSrc4])
	}
	tab.Addr[bpf.AddrSrc4] = classify.AddrPlan{Lens: []int{32, 31, 30, 29, 28}}
	if _, err := genInfo(tab, tabs); err == nil {
		t.Error("5 hashed lengths accepted")
	}
}

// TestClassifierAddrMapsClean installs policies whose fields move between
// the hash tables and the trie and checks that each generation's address
// maps hold exactly its tables' prefixes afterwards: nothing stale is left
// behind.
func TestClassifierAddrMapsClean(t *testing.T) {
	c := loadTestClassifier(t, Knobs{}, "")
	p := netip.MustParsePrefix
	b := classify.Binding{AppID: map[string]uint32{"a": 1}}
	few := []policy.App{{Name: "a", Match: []policy.Selector{{
		Src: []netip.Prefix{p("198.18.0.0/24"), p("198.18.1.1/32"), p("fd00::/64")},
		Dst: []netip.Prefix{p("198.19.0.0/16")},
	}}}}
	many := []policy.App{{Name: "a", Match: []policy.Selector{{
		Src: []netip.Prefix{p("198.18.0.0/16"), p("198.18.0.0/20"), p("198.18.0.0/24"), p("198.18.0.0/28"), p("198.18.0.0/32")},
	}}}}
	steps := []struct {
		apps  []policy.App
		force bool // every field in the trie
	}{{few, false}, {many, false}, {few, true}, {few, false}, {many, false}, {nil, false}, {few, false}}
	for i, s := range steps {
		tab, err := classify.Compile(s.apps, b)
		if err != nil {
			t.Fatal(err)
		}
		if s.force {
			for f := range tab.Addr {
				tab.Addr[f].LPM = true
			}
		}
		if err := c.Update(tab); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		gen, err := c.Gen()
		if err != nil {
			t.Fatal(err)
		}
		var want [2]int // hashed, trie
		for _, src := range []bool{true, false} {
			for p := range map[bool]map[netip.Prefix]classify.Mask{true: tab.Src, false: tab.Dst}[src] {
				if tab.Addr[classify.AddrIndex(src, p.Addr().Is4())].LPM {
					want[1]++
				} else {
					want[0]++
				}
			}
		}
		got := [2]int{countGen(t, c, gen, false), countGen(t, c, gen, true)}
		if got != want {
			t.Errorf("step %d: generation %d holds %d hashed and %d trie prefixes, want %v", i, gen, got[0], got[1], want)
		}
	}
}

// countGen counts generation gen's keys in the hash maps or the tries.
func countGen(t *testing.T, c *Classifier, gen uint32, lpm bool) int {
	t.Helper()
	o := &c.objs
	n := 0
	count := func(m *ebpf.Map, key any, genOf func() uint32) {
		var v bpf.ClassifierMask
		it := m.Iterate()
		for it.Next(key, &v) {
			if genOf() == gen {
				n++
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if lpm {
		var k4 bpf.ClassifierLpm4Key
		var k6 bpf.ClassifierLpm6Key
		for _, m := range []*ebpf.Map{o.Src4Masks, o.Dst4Masks} {
			count(m, &k4, func() uint32 { return k4.Gen })
		}
		for _, m := range []*ebpf.Map{o.Src6Masks, o.Dst6Masks} {
			count(m, &k6, func() uint32 { return k6.Gen })
		}
		return n
	}
	// Hashed: the occupied slots of generation gen's half.
	var k uint32
	var s4 bpf.ClassifierSlot4
	var s6 bpf.ClassifierSlot6
	for i, m := range []*ebpf.Map{o.Src4Slots, o.Dst4Slots, o.Src6Slots, o.Dst6Slots} {
		half := m.MaxEntries() / bpf.NumGens
		it := m.Iterate()
		for i < 2 && it.Next(&k, &s4) || i >= 2 && it.Next(&k, &s6) {
			info := s4.Info
			if i >= 2 {
				info = s6.Info
			}
			if k/half == gen && info&0xff != 0 {
				n++
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
