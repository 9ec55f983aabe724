package netlab_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/shaperdev/shaper/internal/netns"
)

// pingFrom sends ICMP echo requests from src to every dst, from a raw
// socket bound to src inside the namespace ns (like `ping -I src`), and
// returns the destinations that answered within wait. One socket serves a
// whole round, so hundreds of pairs cost no process each and the round's
// time is the network's, not the machine's load.
func pingFrom(ns string, src netip.Addr, dsts []netip.Addr, wait time.Duration) (map[netip.Addr]bool, error) {
	answered := map[netip.Addr]bool{}
	err := netns.Run(ns, func() error {
		network, request, reply := "ip4:icmp", byte(8), byte(0)
		if src.Is6() {
			network, request, reply = "ip6:ipv6-icmp", 128, 129 // the kernel sums ICMPv6
		}
		c, err := net.ListenPacket(network, src.String())
		if err != nil {
			return fmt.Errorf("icmp socket on %s: %w", src, err)
		}
		defer c.Close()
		id := uint16(rand.Uint32())
		buf := make([]byte, 1500)
		// Like ping, ask again (every 200 ms) until an answer comes or
		// wait has passed: one lost request does not fail a pair.
		end := time.Now().Add(wait)
		for len(answered) < len(dsts) && time.Now().Before(end) {
			for seq, d := range dsts {
				if !answered[d] {
					// An error (no route yet) leaves the pair unanswered.
					_, _ = c.WriteTo(echo(request, id, uint16(seq)), &net.IPAddr{IP: d.AsSlice()})
				}
			}
			next := time.Now().Add(200 * time.Millisecond)
			if next.After(end) {
				next = end
			}
			if err := c.SetReadDeadline(next); err != nil {
				return err
			}
			if err := readReplies(c, buf, reply, id, dsts, answered); err != nil {
				return fmt.Errorf("read icmp on %s: %w", src, err)
			}
		}
		return nil
	})
	return answered, err
}

// readReplies marks the destinations whose echo reply (type reply, our id)
// arrives before the socket's read deadline.
func readReplies(c net.PacketConn, buf []byte, reply byte, id uint16, dsts []netip.Addr, answered map[netip.Addr]bool) error {
	for len(answered) < len(dsts) {
		n, from, err := c.ReadFrom(buf) // the IPv4 header is stripped
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		if n < 8 || buf[0] != reply || binary.BigEndian.Uint16(buf[4:]) != id {
			continue
		}
		seq := int(binary.BigEndian.Uint16(buf[6:]))
		addr, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if ok && seq < len(dsts) && addr.Unmap() == dsts[seq] {
			answered[dsts[seq]] = true
		}
	}
	return nil
}

// echo is an ICMP or ICMPv6 echo request with a short payload.
func echo(typ byte, id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "shaperlb")
	if typ == 8 { // ICMPv4: we sum it
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
