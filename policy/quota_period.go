package policy

import "time"

// Period returns the quota period that holds now, in now's location: a day
// runs from local midnight to the next (23 or 25 hours across a DST
// change), a week from Monday 00:00, a month from the reset day (the 1st
// unless Reset says otherwise) 00:00 to the same day of the next month.
// Calendar arithmetic goes through time.Date, which also moves a midnight
// that a DST change skips to the first instant that exists.
func (q *Quota) Period(now time.Time) (start, end time.Time) {
	return PeriodOf(q.Per, q.Reset, now)
}

// PeriodOf is Period for a period name and reset day.
func PeriodOf(per string, reset int, now time.Time) (start, end time.Time) {
	y, m, d := now.Date()
	loc := now.Location()
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, loc) }
	switch per {
	case PerWeek:
		back := (int(now.Weekday()) + 6) % 7 // days since Monday
		return day(y, m, d-back), day(y, m, d-back+7)
	case PerMonth:
		if reset < 1 {
			reset = 1
		}
		if d < reset {
			m--
		}
		return day(y, m, reset), day(y, m+1, reset)
	}
	return day(y, m, d), day(y, m, d+1)
}
