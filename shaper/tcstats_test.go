package shaper

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/shaper/plan"
)

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func u64s(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// A class that has sent more than 2^32 packets: the kernel puts the low 32
// bits in TCA_STATS_BASIC and the full count in TCA_STATS_PKT64. Both
// counters must come out as 64-bit values (a 32-bit read would show a
// reset to the exporter).
func TestDecodeStats2Counts64(t *testing.T) {
	bytes, packets := uint64(7_000_000_000_123), uint64(1<<32+4242)
	basic := append(u64s(bytes), u32s(uint32(packets), 0)...) // gnet_stats_basic + padding, as the kernel sends it
	blob := serializeAttrs([]tcAttr{
		{Type: tcaStatsBasic, Data: basic},
		{Type: tcaStatsRateEst64, Data: u64s(125_000_000, 80_000)},
		{Type: tcaStatsQueue, Data: u32s(3, 4500, 17, 2, 99)},
		{Type: tcaStatsPkt64, Data: u64s(packets)},
	})
	got, err := decodeStats2(blob)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Stats{Bytes: bytes, Packets: packets, Qlen: 3, Backlog: 4500, Drops: 17, Requeues: 2, Overlimits: 99,
		RateBps: 125_000_000, RatePps: 80_000}
	if got != want {
		t.Errorf("decodeStats2:\n got %+v\nwant %+v", got, want)
	}
	// Below 2^32 the kernel sends no PKT64: the basic count is the count.
	got, err = decodeStats2(serializeAttrs([]tcAttr{{Type: tcaStatsBasic, Data: append(u64s(1500), u32s(1, 0)...)}}))
	if err != nil || got.Bytes != 1500 || got.Packets != 1 {
		t.Errorf("without PKT64: %+v, %v; want 1500 bytes, 1 packet", got, err)
	}
}

// The planner's pure tick arithmetic, given the clock the engine reads,
// gives exactly what the netlink library (and tc) compute.
func TestPschedMatchesNetlink(t *testing.T) {
	clk := kernelClock()
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		rate := uint64(r.IntN(1_250_000_000)) + 1
		size := uint32(r.IntN(4_000_000)) + 1
		if float64(size)/float64(rate) > 200 {
			continue
		}
		if a, b := clk.Xmittime(rate, size), netlink.Xmittime(rate, size); a != b {
			t.Fatalf("Xmittime(%d, %d): plan %d, netlink %d", rate, size, a, b)
		}
		ticks := netlink.Xmittime(rate, size)
		if a, b := clk.Xmitsize(rate, ticks), netlink.Xmitsize(rate, ticks); a != b {
			t.Fatalf("Xmitsize(%d, %d): plan %d, netlink %d", rate, ticks, a, b)
		}
	}
}
