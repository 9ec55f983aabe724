package classify_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
)

// v6 builds an IPv6 packet fd00::1 → fd00::2 with the given extension
// headers (each: kind, length byte) then a port header of proto.
func v6(proto uint8, exts ...[2]uint8) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	copy(h[8:], netip.MustParseAddr("fd00::1").AsSlice())
	copy(h[24:], netip.MustParseAddr("fd00::2").AsSlice())
	next := &h[6]
	for _, e := range exts {
		*next = e[0]
		size := (int(e[1]) + 1) * 8
		if e[0] == 51 {
			size = (int(e[1]) + 2) * 4
		}
		b := make([]byte, size)
		b[1] = e[1]
		h = append(h, b...)
		next = &h[len(h)-size]
	}
	*next = proto
	return append(h, 0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0) // 12345 → 443
}

func v4(proto uint8, ah int) []byte {
	h := make([]byte, 20)
	h[0], h[8] = 0x45, 64
	copy(h[12:], []byte{198, 18, 0, 1})
	copy(h[16:], []byte{198, 18, 0, 2})
	next := &h[9]
	for range ah {
		*next = 51
		h = append(h, make([]byte, 24)...)
		h[len(h)-23] = 4
		next = &h[len(h)-24]
	}
	*next = proto
	return append(h, 0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0)
}

func TestParseEdges(t *testing.T) {
	dst := [2]uint8{60, 0}
	seven := v6(6, dst, dst, dst, dst, dst, dst, dst)
	nine := v6(6, dst, dst, dst, dst, dst, dst, dst, dst, dst)
	eth := func(b []byte, et uint16) []byte {
		return append(binary.BigEndian.AppendUint16(make([]byte, 12), et), b...)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		link  classify.Link
		ip    bool
		proto uint8
		dport uint16
	}{
		{"v6 tcp", v6(6), classify.LinkL3, true, 6, 443},
		{"v6 seven dstopts then tcp", seven, classify.LinkL3, true, 6, 443},
		{"v6 nine dstopts: more than walked", nine, classify.LinkL3, false, 0, 0},
		{"v6 AH mid-chain", v6(17, dst, [2]uint8{51, 4}, dst), classify.LinkL3, true, 17, 443},
		{"v4 AH", v4(6, 1), classify.LinkL3, true, 6, 443},
		{"v4 nine AH", v4(6, 9), classify.LinkL3, false, 0, 0},
		{"v4 udplite", v4(136, 0), classify.LinkL3, true, 136, 443},
		{"v4 on ethernet", eth(v4(6, 0), 0x0800), classify.LinkEthernet, true, 6, 443},
		{"v4 bytes as ethernet", v4(6, 0), classify.LinkEthernet, false, 0, 0},
		{"ethernet as L3", eth(v4(6, 0), 0x0800), classify.LinkL3, false, 0, 0},
		{"v6 behind ipv4 ethertype", eth(v6(6), 0x0800), classify.LinkEthernet, false, 0, 0},
		{"arp", eth(make([]byte, 28), 0x0806), classify.LinkEthernet, false, 0, 0},
		{"truncated ports", v4(6, 0)[:22], classify.LinkL3, false, 0, 0},
	} {
		p := classify.Parse(tc.frame, tc.link)
		if p.IsIP != tc.ip || p.Proto != tc.proto || p.DPort != tc.dport {
			t.Errorf("%s: got %+v; want ip %v proto %d dport %d", tc.name, p, tc.ip, tc.proto, tc.dport)
		}
	}
}

// TestParseRandomFrames holds Parse against what the generator built.
func TestParseRandomFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	kinds := map[string]int{}
	for range 100000 {
		f := classifytest.RandomFrame(r)
		if got := classify.Parse(f.Bytes, f.Link); got != f.Want {
			t.Fatalf("%s frame (link %d, %d vlans) % x:\nparsed %+v\nwant   %+v", f.What, f.Link, f.VLANs, f.Bytes, got, f.Want)
		}
		kinds[classifytest.Kind(f)]++
	}
	if err := classifytest.EnoughKinds(kinds, 100); err != nil {
		t.Error(err)
	}
	t.Logf("frame kinds: %v", kinds)
}
