package policy

import (
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone data for %s: %v", name, err)
	}
	return loc
}

func TestPeriods(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	lordHowe := mustLoc(t, "Australia/Lord_Howe")
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name       string
		per        string
		reset      int
		loc        *time.Location
		now        string
		start, end string
		hours      float64 // the period's length in real time
	}{
		{"spring forward day", PerDay, 0, berlin, "2026-03-29 12:00", "2026-03-29 00:00", "2026-03-30 00:00", 23},
		{"fall back day", PerDay, 0, berlin, "2026-10-25 23:59", "2026-10-25 00:00", "2026-10-26 00:00", 25},
		{"plain day", PerDay, 0, berlin, "2026-07-01 00:00", "2026-07-01 00:00", "2026-07-02 00:00", 24},
		{"half-hour DST (Lord Howe)", PerDay, 0, lordHowe, "2026-10-04 08:00", "2026-10-04 00:00", "2026-10-05 00:00", 23.5},
		{"week across spring forward", PerWeek, 0, berlin, "2026-03-29 23:00", "2026-03-23 00:00", "2026-03-30 00:00", 7*24 - 1},
		{"week from Monday", PerWeek, 0, berlin, "2026-03-30 00:00", "2026-03-30 00:00", "2026-04-06 00:00", 7 * 24},
		{"week across a month end", PerWeek, 0, berlin, "2026-01-31 10:00", "2026-01-26 00:00", "2026-02-02 00:00", 7 * 24},
		{"month Jan 31", PerMonth, 0, berlin, "2026-01-31 23:00", "2026-01-01 00:00", "2026-02-01 00:00", 31 * 24},
		{"month Feb 2028 (leap)", PerMonth, 0, berlin, "2028-02-29 12:00", "2028-02-01 00:00", "2028-03-01 00:00", 29 * 24},
		{"month across fall back", PerMonth, 0, berlin, "2026-10-25 02:30", "2026-10-01 00:00", "2026-11-01 00:00", 31*24 + 1},
		{"reset day, before it", PerMonth, 15, berlin, "2026-03-14 23:59", "2026-02-15 00:00", "2026-03-15 00:00", 28 * 24},
		{"reset day, on it", PerMonth, 15, berlin, "2026-03-15 00:00", "2026-03-15 00:00", "2026-04-15 00:00", 31*24 - 1},
		{"reset 28 across the year", PerMonth, 28, berlin, "2027-01-02 00:00", "2026-12-28 00:00", "2027-01-28 00:00", 31 * 24},
		{"reset 28 in leap Feb", PerMonth, 28, berlin, "2028-02-29 00:00", "2028-02-28 00:00", "2028-03-28 00:00", 29*24 - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := at(tt.loc, tt.now)
			start, end := PeriodOf(tt.per, tt.reset, now)
			if want := at(tt.loc, tt.start); !start.Equal(want) {
				t.Errorf("start %v, want %v", start, want)
			}
			if want := at(tt.loc, tt.end); !end.Equal(want) {
				t.Errorf("end %v, want %v", end, want)
			}
			if h := end.Sub(start).Hours(); h != tt.hours {
				t.Errorf("period of %v hours, want %v", h, tt.hours)
			}
			if now.Before(start) || !now.Before(end) {
				t.Errorf("now %v outside [%v, %v)", now, start, end)
			}
		})
	}
}

// Every instant of a year (hourly) lies in its period, and the next period
// starts where it ends.
func TestPeriodsTile(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	for _, per := range []string{PerDay, PerWeek, PerMonth} {
		now := time.Date(2026, 1, 1, 0, 30, 0, 0, loc)
		for range 366 * 24 {
			s, e := PeriodOf(per, 5, now)
			if now.Before(s) || !now.Before(e) {
				t.Fatalf("%s: %v outside [%v, %v)", per, now, s, e)
			}
			if s2, _ := PeriodOf(per, 5, e); !s2.Equal(e) {
				t.Fatalf("%s: next period starts %v, not at %v", per, s2, e)
			}
			now = now.Add(time.Hour)
		}
	}
}
