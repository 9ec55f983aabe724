package history

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration is time.ParseDuration that also takes whole days, "400d",
// alone or before the rest ("1d12h"): retention is said in days.
func ParseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration %q: give e.g. 400d, 48h or 1d12h", s)
		}
		return d, nil
	}
	n, err := strconv.ParseUint(days, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("duration %q: give e.g. 400d, 48h or 1d12h", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("duration %q: give e.g. 400d, 48h or 1d12h", s)
	}
	return d + r, nil
}
