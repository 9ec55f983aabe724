package report

import (
	"fmt"
	"time"
)

// Bytes formats a volume in decimal units, as quotas and line contracts
// count them.
func Bytes(n uint64) string {
	return scaled(float64(n), 1000, []string{"B", "kB", "MB", "GB", "TB", "PB"})
}

// Bits formats a rate in bits per second.
func Bits(bps float64) string {
	return scaled(bps, 1000, []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"})
}

func scaled(v, base float64, units []string) string {
	i := 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f %s", v, units[0])
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[i])
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// span formats an interval's length or a step without Go's trailing
// zero units ("24h", "7d", "10s", "1h30m").
func span(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.Round(time.Second).String()
	for _, z := range []struct{ long, short string }{{"h0m0s", "h"}, {"m0s", "m"}} {
		if len(s) > len(z.long) && s[len(s)-len(z.long):] == z.long {
			return s[:len(s)-len(z.long)] + z.short
		}
	}
	return s
}
