package report

import (
	"time"

	"gonum.org/v1/plot"
)

// timeTicks marks the time axis at round local times (every 10 s, 5 min,
// 3 h, a day...) chosen so that about six labels fit; the axis holds Unix
// seconds.
type timeTicks struct{ loc *time.Location }

var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
}

func (tt timeTicks) Ticks(lo, hi float64) []plot.Tick {
	from, to := tt.at(lo), tt.at(hi)
	major := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if to.Sub(from)/s <= 7 {
			major = s
			break
		}
	}
	minor := major / 4
	if major%(4*time.Hour) == 0 || major == 3*time.Hour {
		minor = major / 3
	}
	var ticks []plot.Tick
	for t := tt.floor(from, minor); !t.After(to); t = t.Add(minor) {
		if t.Before(from) {
			continue
		}
		label := ""
		if tt.floor(t, major).Equal(t) {
			label = t.Format(tickFormat(major, t))
		}
		ticks = append(ticks, plot.Tick{Value: unix(t), Label: label})
	}
	return ticks
}

func (tt timeTicks) at(x float64) time.Time {
	return time.Unix(0, int64(x*1e9)).In(tt.loc)
}

// floor rounds t down to a multiple of d counted from local midnight (from
// Monday's for a week), so that ticks fall on round local times.
func (tt timeTicks) floor(t time.Time, d time.Duration) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, tt.loc)
	if d >= 24*time.Hour {
		days := int(d / (24 * time.Hour))
		base := day.AddDate(0, 0, -(int(day.Weekday())+6)%7) // Monday
		n := int(day.Sub(base).Hours()/24+0.5) / days * days
		return base.AddDate(0, 0, n)
	}
	return day.Add(t.Sub(day) / d * d)
}

func tickFormat(major time.Duration, t time.Time) string {
	switch {
	case major < time.Minute:
		return "15:04:05"
	case major >= 24*time.Hour:
		return "Mon Jan 2"
	case t.Hour() == 0 && t.Minute() == 0:
		return "Mon Jan 2"
	}
	return "15:04"
}
