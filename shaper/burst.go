package shaper

import "math"

// Sizing constants. They follow tc (iproute2) so that a plan applied through
// netlink and the same plan applied with TCCommands give identical kernel
// state.
const (
	// MTU is the packet size tc assumes when it sizes rate tables and the
	// default burst (tc's "mtu 1600"). The planner uses it as the smallest
	// useful burst unit and as the quantum floor.
	MTU = 1600

	// MaxQuantum is the largest quantum HTB accepts without warning
	// "quantum of class ... is big" (the kernel clamps r2q-derived quanta there).
	MaxQuantum = 200000

	// R2Q is HTB's default rate-to-quantum divisor.
	R2Q = 10

	// tcHZ is what tc's get_hz() reads from /proc/net/psched on a kernel
	// with high-resolution timers (every kernel we support): 1e9. tc's
	// default burst, rate/HZ + mtu, is therefore about one MTU, which is
	// why it under-shoots at high rates (DESIGN: -1.7% at 1gbit).
	tcHZ = 1e9

	// tickInUsec is tc's psched ticks per microsecond: /proc/net/psched
	// reports NSEC_PER_USEC=1000 and PSCHED_TICKS2NS(1)=64 (PSCHED_SHIFT 6),
	// fixed kernel constants, so one tick is 64 ns.
	tickInUsec = 1000.0 / 64.0

	timeUnitsPerSec = 1e6 // tc's TIME_UNITS_PER_SEC (microseconds)
)

// DefaultBurst is the burst (or cburst) the planner gives a class of the
// given rate (bytes/s) when the policy sets none: the largest of one
// millisecond of data at the rate (DESIGN measured -0.03% at 1gbit with it),
// tc's own default (rate/HZ + mtu) and two MTUs.
func DefaultBurst(rateBytes uint64) uint32 {
	b := max(rateBytes/1000, uint64(float64(rateBytes)/tcHZ+MTU), 2*MTU)
	if b > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(b)
}

// DefaultQuantum is HTB's quantum for a leaf of the given rate (bytes/s):
// rate/r2q clamped to [MTU, MaxQuantum]. Setting it explicitly keeps HTB
// quiet at >= 100mbit ("quantum is big") and below ~12kbit.
func DefaultQuantum(rateBytes uint64) uint32 {
	return uint32(min(max(rateBytes/R2Q, MTU), MaxQuantum))
}

// xmitTicks is tc_calc_xmittime: the psched ticks it takes to send size
// bytes at rateBytes/s. tc truncates to whole microseconds first; so do we,
// so that netlink and tc produce the same tick value.
func xmitTicks(rateBytes uint64, size uint32) uint32 {
	if rateBytes == 0 {
		return 0
	}
	usec := uint32(timeUnitsPerSec * (float64(size) / float64(rateBytes)))
	return uint32(float64(usec) * tickInUsec)
}

// xmitSize is tc_calc_xmitsize, the inverse of xmitTicks, off by up to two
// microseconds of data because both truncate to whole microseconds. This is
// why Diff compares ticks, never bytes read back.
func xmitSize(rateBytes uint64, ticks uint32) uint32 {
	usec := uint32(float64(ticks) / tickInUsec)
	return uint32(float64(rateBytes) * float64(usec) / timeUnitsPerSec)
}

// maxBurstTime bounds burst/rate: psched ticks are a uint32, 2^32 ticks of
// 64 ns is about 274 s.
const maxBurstTime = 270 // seconds

func burstFits(rateBytes uint64, size uint32) bool {
	return rateBytes > 0 && float64(size)/float64(rateBytes) < maxBurstTime
}

// ticksClose reports whether two tick values are the same buffer up to
// tick rounding: tc and netlink both truncate to whole microseconds before
// converting to ticks, while a TBF given its burst in bytes stores the exact
// nanoseconds, so values may differ by up to one microsecond (16 ticks).
func ticksClose(a, b uint32) bool {
	d := int64(a) - int64(b)
	return d >= -16 && d <= 16
}
