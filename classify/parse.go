package classify

import (
	"encoding/binary"
	"net/netip"
)

// Link says what precedes the IP header in a frame, as the classifier's
// link_type knob does.
type Link int

const (
	// LinkEthernet: an Ethernet header and up to two VLAN tags.
	LinkEthernet Link = iota
	// LinkL3: nothing; the IP header's version nibble gives the family.
	LinkL3
)

// MaxExtHeaders is how many extension headers (IPv6's, and AH on IPv4)
// the parser walks; a longer chain is not classified (the default class),
// so that no chain can hide its ports from a port rule. It is
// MAX_EXT_HDRS of classifier.c.
const MaxExtHeaders = 8

// Extension header numbers.
const (
	extHop      = 0
	extRouting  = 43
	extFragment = 44
	extAH       = 51
	extDstOpts  = 60
)

// Parse reads a frame as the BPF classifier does, over the whole frame:
// the reference for its parser (the differential test holds them against
// each other). Non-IP, truncated or malformed frames give IsIP false.
func Parse(frame []byte, link Link) Packet {
	if link == LinkL3 {
		if len(frame) < 1 {
			return Packet{}
		}
		return ParseIP(frame, int(frame[0]>>4))
	}
	off := 12
	for i := 0; ; i++ {
		if len(frame) < off+2 {
			return Packet{}
		}
		et := binary.BigEndian.Uint16(frame[off:])
		if i == 2 || et != 0x8100 && et != 0x88a8 {
			switch et {
			case 0x0800:
				return ParseIP(frame[off+2:], 4)
			case 0x86dd:
				return ParseIP(frame[off+2:], 6)
			}
			return Packet{}
		}
		off += 4
	}
}

// ParseIP reads an IP packet of the given version (4 or 6, as the link
// layer or the version nibble says).
func ParseIP(b []byte, version int) Packet {
	var p Packet
	var next uint8
	var off int
	switch version {
	case 4:
		if len(b) < 20 || b[0]>>4 != 4 || b[0]&0x0f < 5 {
			return Packet{}
		}
		p.Src, p.Dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 { // later fragment: no L4, no AH
			p.IsIP, p.Proto = true, b[9]
			return p
		}
		next, off = b[9], int(b[0]&0x0f)*4
	case 6:
		if len(b) < 40 || b[0]>>4 != 6 {
			return Packet{}
		}
		p.Src, p.Dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		next, off = b[6], 40
	default:
		return Packet{}
	}
	v6 := version == 6
	for range MaxExtHeaders {
		if !isExt(next, v6) {
			break
		}
		if len(b) < off+4 {
			return Packet{}
		}
		e := b[off:]
		switch next {
		case extFragment:
			next, off = e[0], off+8
			if binary.BigEndian.Uint16(e[2:])&0xfff8 != 0 { // later fragment
				p.IsIP, p.Proto = true, next
				return p
			}
		case extAH:
			next, off = e[0], off+(int(e[1])+2)*4
		default:
			next, off = e[0], off+(int(e[1])+1)*8
		}
	}
	if isExt(next, v6) {
		return Packet{}
	}
	p.IsIP, p.Proto = true, next
	if PortProto(next) {
		if len(b) < off+4 {
			return Packet{}
		}
		p.HasPorts = true
		p.SPort, p.DPort = binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:])
	}
	return p
}

func isExt(next uint8, v6 bool) bool {
	if next == extAH {
		return true
	}
	return v6 && (next == extHop || next == extRouting || next == extDstOpts || next == extFragment)
}

// PortProto reports whether the classifier reads ports of protocol p:
// TCP, UDP, SCTP and UDP-Lite (same port layout as UDP).
func PortProto(p uint8) bool { return p == 6 || p == 17 || p == 132 || p == 136 }

// Reversed is p with source and destination swapped: an ingress packet
// as egress sees its flow.
func (p Packet) Reversed() Packet {
	p.Src, p.Dst = p.Dst, p.Src
	p.SPort, p.DPort = p.DPort, p.SPort
	return p
}
