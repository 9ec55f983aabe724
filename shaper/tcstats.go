package shaper

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/shaper/plan"
)

// Stats are a qdisc's or class's kernel counters (64-bit bytes and
// packets), as status and the exporter report them.
type Stats = plan.Stats

// TCA_STATS2 nested attributes (TCA_STATS_*, include/uapi/linux/gen_stats.h).
const (
	tcaStatsBasic     = 1 // struct gnet_stats_basic: u64 bytes, u32 packets
	tcaStatsRateEst   = 2 // struct gnet_stats_rate_est: u32 bps, u32 pps
	tcaStatsQueue     = 3 // struct gnet_stats_queue: qlen, backlog, drops, requeues, overlimits
	tcaStatsRateEst64 = 5 // struct gnet_stats_rate_est64: u64 bps, u64 pps
	tcaStatsPkt64     = 8 // u64 packets, sent when they do not fit the u32 in basic
)

// decodeStats2 reads a TCA_STATS2 attribute. Bytes are 64-bit in the basic
// block; packets are 32-bit there, and the kernel adds TCA_STATS_PKT64 with
// the full count once it no longer fits: read as 32 bits, a busy class's
// packet counter would wrap after 2^32 packets and look like a reset. (The
// netlink library reads only the 32-bit value.)
func decodeStats2(b []byte) (plan.Stats, error) {
	var s plan.Stats
	attrs, err := parseAttrs(b)
	if err != nil {
		return s, fmt.Errorf("decode tc stats: %w", err)
	}
	var pkt64 []byte
	for _, a := range attrs {
		d := a.Data
		switch a.Type & nlaTypeMask {
		case tcaStatsBasic:
			if len(d) >= 12 {
				s.Bytes = binary.NativeEndian.Uint64(d)
				s.Packets = uint64(binary.NativeEndian.Uint32(d[8:]))
			}
		case tcaStatsPkt64:
			pkt64 = d
		case tcaStatsQueue:
			if len(d) >= 20 {
				s.Qlen = binary.NativeEndian.Uint32(d)
				s.Backlog = binary.NativeEndian.Uint32(d[4:])
				s.Drops = binary.NativeEndian.Uint32(d[8:])
				s.Requeues = binary.NativeEndian.Uint32(d[12:])
				s.Overlimits = binary.NativeEndian.Uint32(d[16:])
			}
		case tcaStatsRateEst:
			if len(d) >= 8 && s.RateBps == 0 {
				s.RateBps = uint64(binary.NativeEndian.Uint32(d))
				s.RatePps = uint64(binary.NativeEndian.Uint32(d[4:]))
			}
		case tcaStatsRateEst64:
			if len(d) >= 16 {
				s.RateBps = binary.NativeEndian.Uint64(d)
				s.RatePps = binary.NativeEndian.Uint64(d[8:])
			}
		}
	}
	if len(pkt64) >= 8 {
		s.Packets = binary.NativeEndian.Uint64(pkt64)
	}
	return s, nil
}

// hasRateEstimator reports whether the object's stats carry a rate
// estimator's reading: the kernel reports one only when it runs.
func hasRateEstimator(o tcObject) bool {
	attrs, err := parseAttrs(o.attr(tcaStats2))
	if err != nil {
		return false
	}
	return findAttr(attrs, tcaStatsRateEst) != nil || findAttr(attrs, tcaStatsRateEst64) != nil
}

// readStats64 reads the counters of an interface's root qdisc and of its
// classes with their full 64-bit width (classes keyed by class id).
func readStats64(ifindex int) (root *plan.Stats, classes map[uint32]plan.Stats, err error) {
	qs, err := dumpTC(unix.RTM_GETQDISC, ifindex, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read qdisc stats: %w", err)
	}
	for _, o := range qs {
		if b := o.attr(tcaStats2); b != nil && o.Parent == tcHRoot {
			s, err := decodeStats2(b)
			if err != nil {
				return nil, nil, err
			}
			root = &s
		}
	}
	cs, err := dumpTC(unix.RTM_GETTCLASS, ifindex, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read class stats: %w", err)
	}
	classes = map[uint32]plan.Stats{}
	for _, o := range cs {
		if b := o.attr(tcaStats2); b != nil {
			s, err := decodeStats2(b)
			if err != nil {
				return nil, nil, err
			}
			classes[o.Handle] = s
		}
	}
	return root, classes, nil
}
