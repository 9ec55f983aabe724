package plan

import (
	"math"
	"time"
)

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

// Psched is the kernel's packet-scheduler clock, which HTB and TBF keep
// their buffers in. tc and the netlink library read it from
// /proc/net/psched; the planner may not (no system calls), so the engine
// reads it (netlink.TickInUsec) and hands it over in KernelState.Clock. Both
// sides then convert bytes to ticks with the same numbers.
type Psched struct {
	TickInUsec float64 // psched ticks per microsecond
}

// DefaultPsched is the clock of every kernel with high-resolution timers:
// /proc/net/psched says NSEC_PER_USEC=1000 and PSCHED_TICKS2NS(1)=64
// (PSCHED_SHIFT 6), so a tick is 64 ns. Used when no clock was read.
var DefaultPsched = Psched{TickInUsec: 1000.0 / 64.0}

func (c Psched) orDefault() Psched {
	if c.TickInUsec <= 0 {
		return DefaultPsched
	}
	return c
}

// Xmittime is tc_calc_xmittime (and netlink.Xmittime): the psched ticks it
// takes to send size bytes at rateBytes/s. tc truncates to whole
// microseconds first; so does this, so that netlink and tc produce the same
// tick value.
func (c Psched) Xmittime(rateBytes uint64, size uint32) uint32 {
	if rateBytes == 0 {
		return 0
	}
	usec := uint32(timeUnitsPerSec * (float64(size) / float64(rateBytes)))
	return uint32(float64(usec) * c.orDefault().TickInUsec)
}

// Xmitsize is tc_calc_xmitsize (and netlink.Xmitsize), the inverse of
// Xmittime, off by up to two microseconds of data because both truncate to
// whole microseconds. This is why Diff compares ticks, never bytes read back.
func (c Psched) Xmitsize(rateBytes uint64, ticks uint32) uint32 {
	usec := uint32(float64(ticks) / c.orDefault().TickInUsec)
	return uint32(float64(rateBytes) * float64(usec) / timeUnitsPerSec)
}

// ticksClose reports whether two tick values are the same buffer up to
// tick rounding: tc and netlink both truncate to whole microseconds before
// converting to ticks, while a TBF given its burst in bytes stores the exact
// nanoseconds, so values may differ by up to one microsecond of ticks.
func (c Psched) ticksClose(a, b uint32) bool {
	tol := int64(c.orDefault().TickInUsec + 0.999)
	d := int64(a) - int64(b)
	return d >= -tol && d <= tol
}

// maxBurstTime bounds burst/rate: psched ticks are a uint32, 2^32 ticks of
// 64 ns is about 274 s.
const maxBurstTime = 270 // seconds

func burstFits(rateBytes uint64, size uint32) bool {
	return rateBytes > 0 && float64(size)/float64(rateBytes) < maxBurstTime
}

// TBFSize sizes a token bucket for a rate (bytes/s) the way the planner
// does: the burst holds 1 ms of data (accurate at high rates, see
// DefaultBurst) but at least two frames of the given size (a smaller bucket
// never passes a full frame), and the queue holds latency more data.
// netlab's link rates use it too, so the lab and the product size alike.
func TBFSize(rateBytes uint64, frame uint32, latency time.Duration) (burst, limit uint32) {
	b := max(rateBytes/1000, 2*uint64(frame))
	lim := float64(rateBytes)*latency.Seconds() + float64(b)
	return uint32(min(b, math.MaxUint32)), uint32(min(lim, math.MaxInt32))
}
