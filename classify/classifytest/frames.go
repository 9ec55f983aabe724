package classifytest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/shaperdev/shaper/classify"
)

// Frame is a random frame for the differential test, built from a random
// tuple, and what parsing it must give (Want), worked out here from how it
// was built, not by classify.Parse, which is tested against it.
type Frame struct {
	Bytes []byte
	Link  classify.Link
	VLANs int // tags in front of the IP header (Ethernet only)
	Want  classify.Packet
	What  string // how it was built, for failure messages
}

// extension header kinds a chain is built from (frag: a first fragment).
var chainKinds = []uint8{0, 43, 60, 51, 44}

// RandomFrame returns an Ethernet (0-2 VLAN tags) or L3 frame: one in ten
// is not IP; IP ones carry IPv4 options, AH (also chained), first and later
// fragments, IPv6 extension chains with AH anywhere, some chains longer than
// classify.MaxExtHeaders, some headers far beyond the first 512 bytes; one in
// eight is cut short.
func RandomFrame(r *rand.Rand) Frame {
	f := Frame{Link: classify.LinkEthernet}
	if r.IntN(4) == 0 {
		f.Link = classify.LinkL3
	} else {
		f.VLANs = r.IntN(3)
	}
	if r.IntN(10) == 0 {
		return nonIP(r, f)
	}
	p := Packet(r)
	var l3 []byte
	var need int // bytes of l3 the parser reads: a shorter frame is not IP
	ok := true
	if p.Src.Is4() {
		l3, need, ok = ipv4(r, p, &f)
	} else {
		l3, need, ok = ipv6(r, p, &f)
	}
	if ok {
		f.Want = p
	}
	et := uint16(0x0800)
	if p.Src.Is6() {
		et = 0x86dd
	}
	f.Bytes = append(l2(f, et), l3...)
	if r.IntN(8) == 0 { // cut short, never below what BPF_PROG_TEST_RUN accepts
		hdr := len(f.Bytes) - len(l3)
		lo := 14
		if f.Link == classify.LinkEthernet && f.VLANs == 0 {
			lo = hdr + 20 + 20*int(et>>15) // the kernel wants the fixed IP header
		}
		if lo < len(f.Bytes) {
			n := lo + r.IntN(len(f.Bytes)-lo)
			f.Bytes = f.Bytes[:n]
			f.What += " cut"
			if n < hdr+need {
				f.Want = classify.Packet{}
			}
		}
	}
	return f
}

func l2(f Frame, et uint16) []byte {
	if f.Link == classify.LinkL3 {
		return nil
	}
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	tags := [][]byte{{0x81, 0x00, 0, 10}, {0x88, 0xa8, 0, 100}}
	for i := f.VLANs; i > 0; i-- { // outer (802.1ad) first when there are two
		b = append(b, tags[i-1]...)
	}
	return binary.BigEndian.AppendUint16(b, et)
}

func nonIP(r *rand.Rand, f Frame) Frame {
	f.What = "non-IP"
	body := make([]byte, 20+r.IntN(60))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	if f.Link == classify.LinkL3 {
		body[0] = byte([]int{0, 1, 5, 7, 15}[r.IntN(5)]<<4) | body[0]&0x0f
		body[12] = 0 // what the kernel's test run takes for an ethertype: not IP
		f.Bytes = body
		return f
	}
	// ARP, LLDP, three VLAN tags deep, or an 802.3 length
	et := []uint16{0x0806, 0x88cc, 0x8100, 0x0040}[r.IntN(4)]
	f.Bytes = append(l2(f, et), body...)
	if et == 0x8100 {
		f.VLANs = 2
		f.Bytes = append(l2(f, 0x8100), 0, 10, 0x08, 0x00)
		f.Bytes = append(f.Bytes, body...)
	}
	return f
}

func l4(p classify.Packet) []byte {
	b := make([]byte, 20)
	if p.HasPorts {
		binary.BigEndian.PutUint16(b[0:], p.SPort)
		binary.BigEndian.PutUint16(b[2:], p.DPort)
		b[12] = 5 << 4
	} else {
		copy(b, []byte{8, 0, 0, 0, 0, 1, 0, 1})
	}
	return b
}

// later says whether p is sent as a later fragment: a port protocol
// without ports.
func later(p classify.Packet) bool { return classify.PortProto(p.Proto) && !p.HasPorts }

func ipv4(r *rand.Rand, p classify.Packet, f *Frame) ([]byte, int, bool) {
	h := make([]byte, 20)
	f.What = "ipv4"
	if r.IntN(4) == 0 {
		h = append(h, 148, 4, 0, 0) // router alert
		f.What += " options"
	}
	h[0] = 0x40 | byte(len(h)/4)
	h[8] = 64
	copy(h[12:], p.Src.AsSlice())
	copy(h[16:], p.Dst.AsSlice())
	if later(p) {
		binary.BigEndian.PutUint16(h[6:], 185)
		h[9] = p.Proto
		f.What += " later-fragment"
		return append(h, l4(p)...), 20, true
	}
	if r.IntN(4) == 0 {
		h[6] = 0x20 // more fragments, offset 0: a first fragment
		f.What += " first-fragment"
	}
	var chain []uint8
	if r.IntN(3) == 0 { // AH, sometimes more of them than are walked
		n := 1 + r.IntN(2)
		if r.IntN(4) == 0 {
			n = classify.MaxExtHeaders - 1 + r.IntN(3)
		}
		for range n {
			chain = append(chain, 51)
		}
	}
	b, need, ok := withChain(r, h, 20, chain, p, f) // the parser reads the fixed header, not options
	b[9] = firstNext(chain, p.Proto)
	return b, need, ok
}

func ipv6(r *rand.Rand, p classify.Packet, f *Frame) ([]byte, int, bool) {
	h := make([]byte, 40)
	f.What = "ipv6"
	h[0], h[7] = 0x60, 64
	copy(h[8:], p.Src.AsSlice())
	copy(h[24:], p.Dst.AsSlice())
	var chain []uint8
	if r.IntN(2) == 0 {
		n := 1 + r.IntN(3)
		if r.IntN(5) == 0 {
			n = classify.MaxExtHeaders - 2 + r.IntN(5)
		}
		for range n {
			chain = append(chain, chainKinds[r.IntN(len(chainKinds))])
		}
	}
	if later(p) {
		chain = append(chain, 0xff) // a later fragment's header ends the chain
	}
	b, need, ok := withChain(r, h, 40, chain, p, f)
	h = b
	h[6] = firstNext(chain, p.Proto)
	return h, need, ok
}

func firstNext(chain []uint8, proto uint8) uint8 {
	if len(chain) == 0 {
		return proto
	}
	if chain[0] == 0xff {
		return 44
	}
	return chain[0]
}

// withChain appends the extension headers of chain (0xff: a later fragment
// header) and L4 to h, of which the parser reads the first fixed bytes. It returns the bytes,
// how many the parser reads, and whether the packet is classified as IP.
func withChain(r *rand.Rand, h []byte, fixed int, chain []uint8, p classify.Packet, f *Frame) ([]byte, int, bool) {
	need := fixed
	walked := 0
	ok, stop := true, false
	for i, k := range chain {
		next := p.Proto
		if i+1 < len(chain) {
			next = chain[i+1]
			if next == 0xff {
				next = 44
			}
		}
		if !stop {
			if walked == classify.MaxExtHeaders {
				ok, stop = false, true
			} else {
				walked++
				need = len(h) + 4
			}
		}
		var e []byte
		switch k {
		case 44, 0xff:
			e = []byte{next, 0, 0, 1, 0, 0, 0, 9} // first fragment: offset 0, M
			if k == 0xff {
				e[3] = 0xc8 // offset 25 × 8
				stop = true
			}
			f.What += map[bool]string{true: " frag-later", false: " frag-first"}[k == 0xff]
		case 51:
			n := 4 + 2*r.IntN(3)
			e = make([]byte, (n+2)*4)
			e[0], e[1] = next, byte(n)
			f.What += " ah"
		default:
			n := r.IntN(2)
			if r.IntN(10) == 0 {
				n = 60 + r.IntN(40) // headers past the first 512 bytes
			}
			e = make([]byte, (n+1)*8)
			e[0], e[1] = next, byte(n)
			f.What += map[uint8]string{0: " hop", 43: " routing", 60: " dstopts"}[k]
			if n >= 60 {
				f.What += "(deep)"
			}
		}
		h = append(h, e...)
	}
	if !ok {
		f.What += " too-long-chain"
	}
	if ok && !stop && classify.PortProto(p.Proto) {
		need = len(h) + 4
	}
	return append(h, l4(p)...), need, ok
}

// frameKinds are the kinds of frame a differential run must have seen.
var frameKinds = []string{"non-IP", "l3", "vlan", "ipv4 options", "first-fragment", "later-fragment",
	"ah", "ah mid-chain", "too-long-chain", "deep header", "udplite ports", "cut", "matched-ip"}

// Kind names one kind the frame is of (the rarest that applies), for
// counting coverage.
func Kind(f Frame) string {
	has := func(s string) bool { return strings.Contains(f.What, s) }
	switch {
	case has("too-long-chain"):
		return "too-long-chain"
	case has("cut"):
		return "cut"
	case has("ah") && strings.Index(f.What, " ah") < strings.LastIndex(f.What, " ") && !strings.HasSuffix(f.What, " ah"):
		return "ah mid-chain"
	case has("deep"):
		return "deep header"
	case has("later"):
		return "later-fragment"
	case has("first"):
		return "first-fragment"
	case has("ah"):
		return "ah"
	case has("non-IP"):
		return "non-IP"
	case has("options"):
		return "ipv4 options"
	case f.Want.Proto == 136 && f.Want.HasPorts:
		return "udplite ports"
	case f.Link == classify.LinkL3:
		return "l3"
	case f.VLANs > 0:
		return "vlan"
	}
	return "matched-ip"
}

// EnoughKinds fails unless every kind of frame was seen n times.
func EnoughKinds(kinds map[string]int, n int) error {
	for _, k := range frameKinds {
		if kinds[k] < n {
			return fmt.Errorf("frame kind %q seen %d times, want %d: the generator does not cover it (%v)", k, kinds[k], n, kinds)
		}
	}
	return nil
}
