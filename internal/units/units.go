// Package units parses and formats tc(8) units: rates, sizes, times and
// percentages. Every decimal is read exactly (4.1mbit is 4100000 bit/s, not
// the 4099999 a float gives), so a value read back from FormatRate is the
// value that was written. It is pure: no I/O, no syscalls.
package units

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Error is a value that cannot be read: what is wrong (Msg) and what to
// write instead (Hint, may be empty). Decoders place it at the value's
// position.
type Error struct {
	Msg  string
	Hint string
}

// Error prints "msg; hint".
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + "; " + e.Hint
}

// Parts returns the message and the hint apart, for error lists that print
// hints their own way.
func (e *Error) Parts() (msg, hint string) { return e.Msg, e.Hint }

func errorf(hint, format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// Units follow tc(8): rates in bits per second with SI (kbit = 1000 bit) or
// IEC (kibit = 1024 bit) prefixes, and the "bps" family in BYTES per second;
// sizes in bytes with k/m/g = 1024 steps; times in microseconds. Every unit
// is matched case-insensitively, as tc does.

const rateHint = "use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps or a percentage like 50%"

var rateUnits = map[string]uint64{
	"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}

const sizeHint = "use a number of bytes like 1540, or b, kb, mb, gb (1024 steps), kbit or mbit"

var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
	"kbit": 1 << 10 / 8, "mbit": 1 << 20 / 8, "gbit": 1 << 30 / 8,
}

const durationHint = "use us, ms or s, like 50ms (a plain number is microseconds, as in tc)"

var durationUnits = map[string]uint64{
	"": 1e3, "us": 1e3, "usec": 1e3, "usecs": 1e3,
	"ms": 1e6, "msec": 1e6, "msecs": 1e6,
	"s": 1e9, "sec": 1e9, "secs": 1e9,
}

// ParseRate parses a tc rate ("100mbit", "1.5gbit", "10kbps" = 80000 bit/s,
// "1000000" = bit/s) or a percentage of the parent's rate ("50%", 0 < p <=
// 100). Fractions of a bit per second are dropped.
func ParseRate(s string) (bitsPerSec uint64, percent float64, isPercent bool, err error) {
	t := strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(t, "%"); ok {
		p, err := parsePercent(strings.TrimSpace(num), s, false)
		return 0, p, err == nil, err
	}
	v, err := parseScaled(t, s, "rate", rateUnits, rateHint)
	if err != nil {
		return 0, 0, false, err
	}
	if !v.IsUint64() {
		return 0, 0, false, errorf("", "rate %q is too large", s)
	}
	return v.Uint64(), 0, false, nil
}

// ParsePercent parses a percentage from 0 to 100, written with or without
// its "%": "1%", "0.5", "100%" (a link's loss, say).
func ParsePercent(s string) (float64, error) {
	num, _ := strings.CutSuffix(strings.TrimSpace(s), "%")
	return parsePercent(strings.TrimSpace(num), s, true)
}

// parsePercent reads the number of a percentage; orig is the text as
// written, for messages. Zero is out of range unless zeroOK.
func parsePercent(num, orig string, zeroOK bool) (float64, error) {
	rng := "above 0% and at most 100%"
	if zeroOK {
		rng = "from 0% to 100%"
	}
	if !isDecimal(num) {
		return 0, errorf("write a number followed by %, like 50%; a percentage is "+rng, "invalid percentage %q", orig)
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || p > 100 || (p == 0 && !zeroOK) {
		return 0, errorf("a percentage must be "+rng, "percentage %q is out of range", orig)
	}
	return p, nil
}

// ParseSize parses a tc size in bytes: "1540", "1540b", "16k"/"16kb" (x1024),
// "1m"/"1mb", "1g"/"1gb", "8kbit" (kbit = 1024/8 bytes, as tc).
func ParseSize(s string) (uint32, error) {
	v, err := parseScaled(strings.TrimSpace(s), s, "size", sizeUnits, sizeHint)
	if err != nil {
		return 0, err
	}
	if !v.IsUint64() || v.Uint64() > math.MaxUint32 {
		return 0, errorf("the largest size is 4294967295 bytes (just under 4gb)", "size %q is too large", s)
	}
	return uint32(v.Uint64()), nil
}

// ParseDuration parses a tc time: "50ms", "1.5s", "200us"; a plain number is
// microseconds.
func ParseDuration(s string) (time.Duration, error) {
	v, err := parseScaled(strings.TrimSpace(s), s, "time", durationUnits, durationHint)
	if err != nil {
		return 0, err
	}
	if !v.IsInt64() {
		return 0, errorf("", "time %q is too long", s)
	}
	return time.Duration(v.Int64()), nil
}

// parseScaled reads "<decimal><unit>" and returns floor(decimal * scale of
// unit), computed exactly.
func parseScaled(t, orig, what string, units map[string]uint64, hint string) (*big.Int, error) {
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if !isDecimal(num) {
		return nil, errorf(hint, "invalid %s %q: it must start with a number", what, orig)
	}
	scale, ok := units[strings.ToLower(unit)]
	if !ok {
		return nil, errorf(hint, "unknown unit %q in %s %q", unit, what, orig)
	}
	whole, frac, _ := strings.Cut(num, ".")
	n, _ := new(big.Int).SetString(whole+frac, 10) // isDecimal vouches for the digits
	n.Mul(n, new(big.Int).SetUint64(scale))
	if len(frac) > 0 {
		n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	}
	return n, nil
}

// isDecimal accepts "12", "12.5", ".5" and "12." but no sign, exponent or
// more than 40 characters (nobody writes a rate that long).
func isDecimal(s string) bool {
	if s == "" || s == "." || len(s) > 40 {
		return false
	}
	dot := false
	for _, r := range s {
		switch {
		case r == '.' && !dot:
			dot = true
		case r < '0' || r > '9':
			return false
		}
	}
	return true
}

// PercentOf returns floor(base * percent / 100) exactly for percentages with
// up to six decimals: 33.3% of 100mbit is 33300000, not 33299999. Flooring
// keeps the sum of the children's rates within the parent's whenever their
// percentages add up to at most 100.
func PercentOf(base uint64, percent float64) uint64 {
	const one = 100 * 1e6 // 100% in millionths of a percent
	scaled := uint64(math.Round(percent * 1e6))
	if scaled > one {
		scaled = one
	}
	hi, lo := bits.Mul64(base, scaled)
	q, _ := bits.Div64(hi, lo, one) // hi < one since scaled <= one
	return q
}

// FormatRate prints a rate in bits per second as the shortest exact tc rate:
// 100000000 → "100mbit", 1024000 → "1024kbit", 1500 → "1500bit".
func FormatRate(bitsPerSec uint64) string {
	for _, u := range []struct {
		name  string
		scale uint64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bitsPerSec != 0 && bitsPerSec%u.scale == 0 {
			return fmt.Sprintf("%d%s", bitsPerSec/u.scale, u.name)
		}
	}
	return fmt.Sprintf("%dbit", bitsPerSec)
}

// FormatSize prints a size in bytes as the shortest exact tc size that
// ParseSize reads back: 1540 → "1540b", 16384 → "16kb", 1048576 → "1mb".
func FormatSize(bytes uint32) string {
	for _, u := range []struct {
		name  string
		scale uint32
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}} {
		if bytes != 0 && bytes%u.scale == 0 {
			return fmt.Sprintf("%d%s", bytes/u.scale, u.name)
		}
	}
	return fmt.Sprintf("%db", bytes)
}
