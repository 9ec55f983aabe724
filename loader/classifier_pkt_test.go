package loader

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/shaperdev/shaper/classify"
)

// Packet builders for the classifier tests: gopacket for Ethernet, VLAN
// and IP; raw bytes where gopacket cannot serialize (SCTP, IPv6 extension
// headers, later fragments).

var (
	clsMACa = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	clsMACb = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func clsSerialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize packet: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// clsEth returns the Ethernet header plus 0, 1 or 2 VLAN tags in front of
// an L3 packet of type et.
func clsEth(vlans int, et layers.EthernetType) []gopacket.SerializableLayer {
	switch vlans {
	case 1:
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: et},
		}
	case 2:
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: et},
		}
	}
	return []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: clsMACa, DstMAC: clsMACb, EthernetType: et}}
}

// clsL4 returns raw L4 bytes: the two ports then padding, which is all the
// classifier reads of TCP, UDP and SCTP alike (checksums do not matter).
func clsL4(sport, dport uint16, n int) []byte {
	b := make([]byte, max(n, 4))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

// clsOpt describes an IP packet to build beyond classify.Packet.
type clsOpt struct {
	vlans     int
	v4Options bool   // IPv4 router-alert option (ihl 6)
	firstFrag bool   // more-fragments set, offset 0
	v6Ext     []byte // IPv6 extension header chain before the fragment header / L4 (its first next-header given by v6First)
	v6First   uint8
}

// clsBuild turns a classify.Packet into bytes: a packet of a port protocol
// without ports is sent as a later fragment.
func clsBuild(t testing.TB, p classify.Packet, o clsOpt) []byte {
	t.Helper()
	portProto := p.Proto == 6 || p.Proto == 17 || p.Proto == 132
	later := portProto && !p.HasPorts
	var l4 []byte
	if portProto && p.HasPorts {
		l4 = clsL4(p.SPort, p.DPort, 20)
	} else {
		l4 = []byte{8, 0, 0, 0, 0, 1, 0, 1, 0xde, 0xad, 0xbe, 0xef} // echo-ish bytes
	}
	if p.Src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocol(p.Proto),
			SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice(), Id: 7}
		if o.v4Options {
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		}
		if later {
			ip.FragOffset = 185
		} else if o.firstFrag {
			ip.Flags = layers.IPv4MoreFragments
		}
		ls := append(clsEth(o.vlans, layers.EthernetTypeIPv4), ip, gopacket.Payload(l4))
		return clsSerialize(t, ls...)
	}
	next := p.Proto
	payload := append([]byte(nil), o.v6Ext...)
	if later || o.firstFrag {
		off := uint16(0)
		if later {
			off = 185 << 3
		} else {
			off = 1 // M flag
		}
		fh := []byte{p.Proto, 0, 0, 0, 0, 0, 0, 9}
		binary.BigEndian.PutUint16(fh[2:], off)
		payload = append(payload, fh...)
		next = 44
	}
	// Chain the given extension headers to what follows them.
	first := next
	if len(o.v6Ext) > 0 {
		first = o.v6First
		payload[clsLastExt(o.v6Ext)] = next
	}
	payload = append(payload, l4...)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(first),
		SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
	ls := append(clsEth(o.vlans, layers.EthernetTypeIPv6), ip, gopacket.Payload(payload))
	return clsSerialize(t, ls...)
}

// clsLastExt returns the offset of the next-header byte of the last header
// in an extension chain of 8-byte-unit headers (hop-by-hop, routing,
// destination options) or AH (4-byte units).
func clsLastExt(chain []byte) int {
	last, off := 0, 0
	for off < len(chain) {
		last = off
		off += (int(chain[off+1]) + 1) * 8
	}
	return last
}

// v6 extension headers (next-header bytes are patched by clsBuild).
var (
	clsHopByHop = []byte{43, 0, 1, 4, 0, 0, 0, 0}                                                   // → routing; PadN
	clsRouting  = []byte{60, 0, 4, 0, 0, 0, 0, 0}                                                   // → dstopts; type 4, segments left 0
	clsDstOpts  = []byte{0xff, 0, 1, 4, 0, 0, 0, 0}                                                 // → patched
	clsAH       = []byte{0xff, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // (4+2)*4 = 24 bytes
)

func clsAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
