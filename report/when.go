package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a --since or --until value: a span back from now ("90m",
// "24h", "7d", "2w"), a local date ("2026-12-01", its midnight), a local
// date and time ("2026-12-01 15:04" or "2026-12-01T15:04"), RFC 3339
// ("2026-12-01T15:04:05Z") or "now".
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if n, days, ok := parseDays(s); ok {
		if n <= 0 {
			return time.Time{}, fmt.Errorf("time %q: a span back from now must be positive", s)
		}
		return now.AddDate(0, 0, -n*days), nil // the same local time, across a DST change too
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("time %q: a span back from now must be positive", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", "2006-01-02T15:04", time.DateTime, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use a span back from now (1h, 24h, 7d), a date (2026-12-01), "+
		"a local time (2026-12-01 15:04), RFC 3339 (2026-12-01T15:04:05Z) or now", s)
}

// parseDays reads a whole number of days ("7d") or weeks ("2w"), which Go
// durations lack: n units of days days each.
func parseDays(s string) (n, days int, ok bool) {
	for suffix, d := range map[string]int{"d": 1, "w": 7} {
		if v, found := strings.CutSuffix(s, suffix); found {
			if n, err := strconv.Atoi(v); err == nil {
				return n, d, true
			}
		}
	}
	return 0, 0, false
}

// Interval reads --since and --until and checks that one comes before the
// other.
func Interval(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = ParseTime(since, now); err != nil {
		return from, to, fmt.Errorf("--since: %w", err)
	}
	if to, err = ParseTime(until, now); err != nil {
		return from, to, fmt.Errorf("--until: %w", err)
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("--since %s is not before --until %s: the interval is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}
