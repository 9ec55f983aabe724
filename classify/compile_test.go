package classify

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/policy"
)

// single is the entry of a value that single-field selector i accepts.
func single(i int) Mask { return Mask{Single: uint32(i) + 1} }

// multi is the entry of a value that multi-field selectors js take part in.
func multi(js ...int) Mask { return Mask{Multi: bitset(js...)} }

func bitset(js ...int) Bits {
	var b Bits
	for _, j := range js {
		b.Set(j)
	}
	return b
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func bind(names ...string) Binding {
	b := Binding{AppID: map[string]uint32{}, AppClass: map[string]Class{}, Default: Class{ClassID: 0x10030, Slot: 0x30}}
	for i, n := range names {
		b.AppID[n] = uint32(i + 1)
		b.AppClass[n] = Class{ClassID: 0x10010 + uint32(i), Slot: 0x10 + uint32(i)}
	}
	return b
}

func TestCompileTables(t *testing.T) {
	tests := []struct {
		name  string
		apps  []policy.App
		check func(t *testing.T, tab *Tables)
	}{{
		name: "port range expanded into dport entries, other fields wild",
		apps: []policy.App{{Name: "web", Match: []policy.Selector{{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: 80, Hi: 82}}}}}},
		check: func(t *testing.T, tab *Tables) {
			want := map[uint16]Mask{80: multi(0), 81: multi(0), 82: multi(0)}
			if !equalMaps(sparse(tab.DPort), want) || tab.SPort != nil {
				t.Errorf("dport %v sport %v", tab.DPort, tab.SPort)
			}
			if tab.Proto[6] != multi(0) || len(tab.Proto) != 1 || !slices.Equal(tab.MultiIdx, []uint32{0}) {
				t.Errorf("proto %v", tab.Proto)
			}
			wantWild := [bpf.NumFields]Bits{bpf.FieldSPort: bitset(0), bpf.FieldSrc: bitset(0), bpf.FieldDst: bitset(0),
				bpf.FieldProc: bitset(0), bpf.FieldCgrp: bitset(0)}
			if tab.Wild != wantWild {
				t.Errorf("wild %v, want %v", tab.Wild, wantWild)
			}
		},
	}, {
		name: "port becomes two adjacent sub-selectors, sport first",
		apps: []policy.App{
			{Name: "dns", Match: []policy.Selector{{Ports: []policy.PortRange{{Lo: 53, Hi: 53}}}}},
			{Name: "all", Match: []policy.Selector{{}}},
		},
		check: func(t *testing.T, tab *Tables) {
			if !equalMaps(sparse(tab.SPort), map[uint16]Mask{53: single(0)}) || !equalMaps(sparse(tab.DPort), map[uint16]Mask{53: single(1)}) {
				t.Errorf("sport %v dport %v", tab.SPort, tab.DPort)
			}
			// the field-less selector is multi 0, wild everywhere; the halves are single
			if tab.Wild[bpf.FieldSPort] != bitset(0) || tab.Wild[bpf.FieldDPort] != bitset(0) || !slices.Equal(tab.MultiIdx, []uint32{2}) {
				t.Errorf("wild %v", tab.Wild)
			}
			if len(tab.Sel) != 3 || tab.Sel[0].App != 1 || tab.Sel[1].App != 1 || tab.Sel[2].App != 2 {
				t.Errorf("sel %v", tab.Sel)
			}
		},
	}, {
		name: "port intersected with sport; an empty intersection drops the half",
		apps: []policy.App{{Name: "x", Match: []policy.Selector{{
			Ports:  []policy.PortRange{{Lo: 10, Hi: 20}},
			SPorts: []policy.PortRange{{Lo: 30, Hi: 30}},
		}}}},
		check: func(t *testing.T, tab *Tables) {
			// sport half: 10-20 ∩ 30 = ∅ → dropped; dport half: sport 30, dport 10-20.
			if len(tab.Sel) != 1 || !equalMaps(sparse(tab.SPort), map[uint16]Mask{30: multi(0)}) || len(sparse(tab.DPort)) != 11 {
				t.Errorf("sel %v sport %v dport %d entries", tab.Sel, sparse(tab.SPort), len(sparse(tab.DPort)))
			}
		},
	}, {
		name: "prefixes folded with every shorter covering prefix, per family",
		apps: []policy.App{
			{Name: "a", Match: []policy.Selector{{Dst: []netip.Prefix{pfx("198.18.0.0/15")}}}},
			{Name: "b", Match: []policy.Selector{{Dst: []netip.Prefix{pfx("198.18.1.0/24"), pfx("fd00::/8")}}}},
			{Name: "c", Match: []policy.Selector{{Dst: []netip.Prefix{pfx("198.18.1.7/32"), pfx("0.0.0.0/0")}}}},
			{Name: "d", Match: []policy.Selector{{Dst: []netip.Prefix{pfx("198.19.0.0/16"), pfx("fd00:1::/32")}}}},
		},
		check: func(t *testing.T, tab *Tables) {
			want := map[netip.Prefix]Mask{
				pfx("0.0.0.0/0"):     single(2),
				pfx("198.18.0.0/15"): single(0),
				pfx("198.18.1.0/24"): single(0),
				pfx("198.18.1.7/32"): single(0),
				pfx("198.19.0.0/16"): single(0),
				pfx("fd00::/8"):      single(1),
				pfx("fd00:1::/32"):   single(1),
			}
			if !equalMaps(tab.Dst, want) {
				t.Errorf("dst %v\nwant %v", tab.Dst, want)
			}
		},
	}, {
		name: "address plans: lengths longest first; more than bpf.MaxHashLens lengths go to the trie",
		apps: []policy.App{
			{Name: "a", Match: []policy.Selector{{
				Src: []netip.Prefix{pfx("198.18.0.0/24"), pfx("198.18.1.1/32"), pfx("198.18.2.0/24"), pfx("fd00::/64")},
				Dst: []netip.Prefix{pfx("198.18.0.0/16"), pfx("198.18.0.0/20"), pfx("198.18.0.0/24"), pfx("198.18.0.0/28"), pfx("198.18.0.0/32")},
			}}},
		},
		check: func(t *testing.T, tab *Tables) {
			want := [bpf.NumAddrs]AddrPlan{
				bpf.AddrSrc4: {Lens: []int{32, 24}},
				bpf.AddrDst4: {Lens: []int{32, 28, 24, 20, 16}, LPM: true},
				bpf.AddrSrc6: {Lens: []int{64}},
			}
			for i := range want {
				if !slices.Equal(tab.Addr[i].Lens, want[i].Lens) || tab.Addr[i].LPM != want[i].LPM {
					t.Errorf("field %d: plan %+v, want %+v", i, tab.Addr[i], want[i])
				}
			}
			if tab.Addr[bpf.AddrDst6].Mode() != bpf.AddrNone || tab.Addr[bpf.AddrSrc4].Mode() != bpf.AddrHash ||
				tab.Addr[bpf.AddrDst4].Mode() != bpf.AddrLPM {
				t.Errorf("modes %d %d %d", tab.Addr[bpf.AddrDst6].Mode(), tab.Addr[bpf.AddrSrc4].Mode(), tab.Addr[bpf.AddrDst4].Mode())
			}
		},
	}, {
		name: "unmasked prefixes are masked; app without class takes the default",
		apps: []policy.App{{Name: "a", Match: []policy.Selector{{Src: []netip.Prefix{pfx("198.18.3.4/16")}}}}, {Name: "nocls", Match: []policy.Selector{{}}}},
		check: func(t *testing.T, tab *Tables) {
			if _, ok := tab.Src[pfx("198.18.0.0/16")]; !ok || len(tab.Src) != 1 {
				t.Errorf("src %v", tab.Src)
			}
			if tab.Sel[1].Class != (Class{ClassID: 0x10030, Slot: 0x30}) {
				t.Errorf("sel %v", tab.Sel)
			}
		},
	}, {
		name: "an app with no selectors takes no bit",
		apps: []policy.App{{Name: "none"}, {Name: "b", Match: []policy.Selector{{Protos: []uint8{17}}}}},
		check: func(t *testing.T, tab *Tables) {
			if len(tab.Sel) != 1 || tab.Sel[0].App != 2 || tab.Proto[17] != single(0) {
				t.Errorf("sel %v proto %v", tab.Sel, tab.Proto)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names := []string{}
			for _, a := range tc.apps {
				names = append(names, a.Name)
			}
			b := bind(names...)
			delete(b.AppClass, "nocls")
			tab, err := Compile(tc.apps, b)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tab)
		})
	}
}

func sparse(tab []Mask) map[uint16]Mask {
	out := map[uint16]Mask{}
	for p, m := range tab {
		if !m.IsZero() {
			out[uint16(p)] = m
		}
	}
	return out
}

func equalMaps[K comparable](a, b map[K]Mask) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCompileErrors(t *testing.T) {
	many := policy.App{Name: "many"}
	for range bpf.MaxSelectors/2 + 1 {
		many.Match = append(many.Match, policy.Selector{Ports: []policy.PortRange{{Lo: 1, Hi: 1}}})
	}
	exactly := policy.App{Name: "many", Match: append(many.Match[:bpf.MaxSelectors/2:bpf.MaxSelectors/2], policy.Selector{DPorts: []policy.PortRange{{Lo: 2, Hi: 2}}})}
	multis := policy.App{Name: "many"}
	for range bpf.MaxMulti + 1 {
		multis.Match = append(multis.Match, policy.Selector{Protos: []uint8{6}, DPorts: []policy.PortRange{{Lo: 1, Hi: 1}}})
	}
	multiFit := policy.App{Name: "many", Match: multis.Match[:bpf.MaxMulti]}
	tests := []struct {
		name    string
		apps    []policy.App
		b       Binding
		want    string // "" = no error
		badUser bool
	}{
		{"process", []policy.App{{Name: "ff", Match: []policy.Selector{{Process: "firefox"}}}}, bind("ff"), "", false},
		{"cgroup without id", []policy.App{{Name: "bk", Match: []policy.Selector{{Cgroup: "/x"}}}},
			bind("bk"), `app "bk": cgroup /x has no id given (caller bug)`, false},
		{"65536 selectors", []policy.App{many}, bind("many"), "more than 65535 selectors", true},
		{"65535 selectors fit", []policy.App{exactly}, bind("many"), "", false},
		{"257 multi-field selectors", []policy.App{multis}, bind("many"), "more than 256 selectors with two or more fields", true},
		{"256 multi-field selectors fit", []policy.App{multiFit}, bind("many"), "", false},
		{"missing app id", []policy.App{{Name: "x"}}, bind(), "no app id", false},
		{"slot out of range", []policy.App{{Name: "x", Match: []policy.Selector{{}}}},
			Binding{AppID: map[string]uint32{"x": 1}, Default: Class{Slot: 5000}}, "slot 5000", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.apps, tc.b)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
			var bad interface{ BadInput() bool }
			if got := errors.As(err, &bad) && bad.BadInput(); got != tc.badUser {
				t.Errorf("BadInput = %v, want %v", got, tc.badUser)
			}
		})
	}
}

func TestBitsFirst(t *testing.T) {
	for _, i := range []int{0, 1, 63, 64, 127, 128, 200, 255} {
		m := bitset(i, 255)
		if got := m.First(); got != i {
			t.Errorf("First(%d) = %d", i, got)
		}
	}
	if (Bits{}).First() != -1 {
		t.Error("empty set has a first bit")
	}
}

func TestMaskOr(t *testing.T) {
	if got := single(3).Or(Mask{}).Or(single(5)); got != single(3) {
		t.Errorf("single: %+v", got)
	}
	if got := multi(1).Or(multi(7)).Or(single(9)); got != (Mask{Single: 10, Multi: bitset(1, 7)}) {
		t.Errorf("multi: %+v", got)
	}
}
