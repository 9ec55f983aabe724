package policy

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Quota is an app's volume budget per period: when the app has used Volume
// bytes in the current period, `shaper serve` moves it to the Then class
// until the period ends.
type Quota struct {
	Volume    uint64 `json:"volume"`              // bytes, > 0
	Per       string `json:"per"`                 // PerDay, PerWeek or PerMonth
	Then      string `json:"then"`                // a leaf class of each counted direction that places the app
	Direction string `json:"direction,omitempty"` // QuotaUp, QuotaDown or QuotaBoth ("" reads as both)
	Reset     int    `json:"reset,omitempty"`     // per month: the day of the month it resets (1..28; 0 = 1)
	Pos       Pos    `json:"-"`
	ThenPos   Pos    `json:"-"`
}

// Quota periods.
const (
	PerDay   = "day"
	PerWeek  = "week"
	PerMonth = "month"
)

// Quota directions: what counts against the volume.
const (
	QuotaUp   = "up"   // egress (upload)
	QuotaDown = "down" // ingress (download)
	QuotaBoth = "both"
)

// MaxResetDay is the latest day of the month a monthly quota may reset on:
// every month has it, so no period is ever skipped or shortened.
const MaxResetDay = 28

// Counts reports whether the quota counts traffic of dir ("egress" or
// "ingress").
func (q *Quota) Counts(dir string) bool {
	switch q.Direction {
	case QuotaUp:
		return dir == "egress"
	case QuotaDown:
		return dir == "ingress"
	}
	return dir == "egress" || dir == "ingress"
}

const volumeHint = "write a volume like 50GB or 1.5TiB: B, kB, MB, GB, TB (1000 steps) or KiB, MiB, GiB, TiB (1024 steps)"

// volumeUnits are matched case-insensitively: "gb" is a gigabyte (10⁹),
// as in "50GB"; the binary units say so with their "i".
var volumeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseVolume reads a quota volume in bytes: "50GB", "1.5 TiB", "700000".
// Fractions of a byte are dropped.
func ParseVolume(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	whole, frac, _ := strings.Cut(num, ".")
	if whole+frac == "" || strings.Count(num, ".") > 1 || len(num) > 40 {
		return 0, fmt.Errorf("invalid volume %q: it must start with a number", s)
	}
	scale, ok := volumeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q in volume %q", unit, s)
	}
	n, _ := new(big.Int).SetString(whole+frac, 10)
	n.Mul(n, new(big.Int).SetUint64(scale))
	n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	if !n.IsUint64() {
		return 0, fmt.Errorf("volume %q is too large", s)
	}
	return n.Uint64(), nil
}

// quota decodes an app's quota mapping.
func (d *decoder) quota(n *yamldoc.Node) *Quota {
	q := &Quota{Pos: d.Pos(n), Direction: QuotaBoth}
	f, ok := d.Mapping(n, "a quota", "volume", "per", "then", "direction", "reset")
	if !ok {
		return q
	}
	d.volume(f, q)
	q.Per = d.choice(f, "per", "quota", PerDay, PerWeek, PerMonth)
	if v := f.Get("direction"); v != nil {
		q.Direction = d.choice(f, "direction", "quota", QuotaUp, QuotaDown, QuotaBoth)
	}
	if v := f.Get("then"); v == nil {
		d.Fail(n, `add "then: CLASS", the class the app moves to once the volume is used`, "the quota has no then class")
	} else if s, ok := d.Str(v, "then"); ok {
		q.Then, q.ThenPos = s, d.Pos(v)
	}
	if v := f.Get("reset"); v != nil {
		if q.Per != PerMonth {
			d.Fail(v, "reset is the day of the month a monthly quota starts again; use it with per: month", "reset without per: month")
		} else if r, ok := d.IntIn(v, "reset day", 1, MaxResetDay); ok {
			q.Reset = int(r)
		}
	}
	return q
}

func (d *decoder) volume(f yamldoc.Fields, q *Quota) {
	v := f.Get("volume")
	if v == nil {
		d.Fail(f.Node, `add e.g. "volume: 50GB"`, "the quota has no volume")
		return
	}
	s, ok := d.text(v, "volume")
	if !ok {
		return
	}
	b, err := ParseVolume(s)
	switch {
	case err != nil:
		d.Fail(v, volumeHint, "%v", err)
	case b == 0:
		d.Fail(v, "give a volume above 0, or remove the quota", "the quota's volume is 0")
	default:
		q.Volume = b
	}
}

// choice decodes key of f, which must be one of options; absent is an error.
func (d *decoder) choice(f yamldoc.Fields, key, what string, options ...string) string {
	v := f.Get(key)
	if v == nil {
		d.Fail(f.Node, fmt.Sprintf("add \"%s: ...\": %s", key, yamldoc.QuoteList(options)), "the %s has no %s", what, key)
		return ""
	}
	s, ok := d.Str(v, key)
	if !ok {
		return ""
	}
	if !slices.Contains(options, s) {
		hint := "use " + yamldoc.QuoteList(options)
		if sug := yamldoc.Suggest(s, options); sug != "" {
			hint = fmt.Sprintf("did you mean %q? ", sug) + hint
		}
		d.Fail(v, hint, "unknown %s %q", key, s)
		return ""
	}
	return s
}
