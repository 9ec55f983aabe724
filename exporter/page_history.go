package exporter

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shaperdev/shaper/history"
)

const (
	historyDefault = 24 * time.Hour
	historyMax     = 400 * 24 * time.Hour // the store's default roll-up retention
	// historyPoints bounds the chart's points: a phone draws 300 as fast
	// as 30, and more than its pixels would not show.
	historyPoints = 300
	// historyTop apps get a band of their own; the rest share one.
	historyTop = 8
)

// PageHistory is /api/history: per-app bandwidth of the last interval,
// one average per step, apps by volume (largest first), the rest summed.
type PageHistory struct {
	From   time.Time       `json:"from"`
	To     time.Time       `json:"to"`
	Step   float64         `json:"step_seconds"`
	Times  []int64         `json:"times"` // each step's start, Unix milliseconds
	Series []HistorySeries `json:"series"`
	Note   string          `json:"note,omitempty"` // why there is nothing to draw
}

// HistorySeries is one app's (or "other apps'") bandwidth, both
// directions or the one asked.
type HistorySeries struct {
	Name  string    `json:"name"`
	Bytes uint64    `json:"bytes"` // over the interval
	Bits  []float64 `json:"bits"`  // average bits per second of each step
}

// historyFor answers a request for the last `since` (24h if empty) up to
// now. Only a bad since is an error; a missing or failing store is a note.
func historyFor(h HistoryReader, since, direction string, now time.Time) (PageHistory, error) {
	span, err := parseSince(since)
	if err != nil {
		return PageHistory{}, err
	}
	dir, err := historyDirection(direction)
	if err != nil {
		return PageHistory{}, err
	}
	res := PageHistory{From: now.Add(-span), To: now, Times: []int64{}, Series: []HistorySeries{}}
	if h == nil {
		res.Note = "no history: this serve runs with --no-history"
		return res, nil
	}
	first, _, ok := h.Span()
	if !ok {
		res.Note = "no history yet"
		return res, nil
	}
	// A young history is drawn from its first sample, in finer steps.
	if first.After(res.From) {
		res.From = first
	}
	step := historyStep(res.To.Sub(res.From), h.Resolution(res.From, res.To))
	res.Step = step.Seconds()
	ss, err := h.Query(history.Query{From: res.From, To: res.To, Step: step, Match: func(k history.Key) bool {
		return k.Kind == history.KindApp && (dir == "" || k.Direction == dir)
	}})
	if err != nil {
		res.Note = "history unavailable: " + err.Error()
		return res, nil
	}
	stackApps(&res, ss, step)
	if len(res.Series) == 0 {
		res.Note = "no history yet"
	}
	return res, nil
}

// parseSince takes a Go duration or a number of days ("7d").
func parseSince(s string) (time.Duration, error) {
	if s == "" {
		return historyDefault, nil
	}
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > historyMax {
		return 0, fmt.Errorf("since=%q: give a duration up to 400d, e.g. 1h, 24h or 7d", s)
	}
	return d, nil
}

func historyDirection(s string) (string, error) {
	switch s {
	case "", "both":
		return "", nil
	case "up", "egress":
		return "egress", nil
	case "down", "ingress":
		return "ingress", nil
	}
	return "", fmt.Errorf("direction=%q: give up, down or both", s)
}

// niceSteps are the steps a chart reads well in; from 5 min on they are
// the store's roll-ups, so a long chart does not scan raw samples.
var niceSteps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour}

// historyStep is the first nice step, a multiple of the store's
// resolution, that keeps the chart within historyPoints.
func historyStep(span, res time.Duration) time.Duration {
	if res <= 0 {
		res = 10 * time.Second
	}
	want := max(res, span/historyPoints)
	for _, s := range niceSteps {
		if s >= want && s <= 4*want && s%res == 0 {
			return s
		}
	}
	return (want + res - 1) / res * res
}

// stackApps sums the series of each app over interfaces, namespaces and
// directions onto one time axis, and keeps the largest apps apart.
func stackApps(res *PageHistory, ss []history.Series, step time.Duration) {
	times := map[int64]int{}
	for _, s := range ss {
		for _, p := range s.Points {
			times[p.T.UnixMilli()] = 0
		}
	}
	for t := range times {
		res.Times = append(res.Times, t)
	}
	slices.Sort(res.Times)
	for i, t := range res.Times {
		times[t] = i
	}
	byApp := map[string]*HistorySeries{}
	for _, s := range ss {
		a := byApp[s.Name]
		if a == nil {
			a = &HistorySeries{Name: s.Name, Bits: make([]float64, len(res.Times))}
			byApp[s.Name] = a
		}
		for _, p := range s.Points {
			a.Bytes += p.Bytes
			a.Bits[times[p.T.UnixMilli()]] += float64(p.Bytes) * 8 / step.Seconds()
		}
	}
	var all []HistorySeries
	for _, a := range byApp {
		if a.Bytes > 0 {
			all = append(all, *a)
		}
	}
	slices.SortFunc(all, func(x, y HistorySeries) int {
		return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(x.Name, y.Name))
	})
	if len(all) > historyTop {
		rest := HistorySeries{Name: "other apps", Bits: make([]float64, len(res.Times))}
		for _, a := range all[historyTop-1:] {
			rest.Bytes += a.Bytes
			for i, v := range a.Bits {
				rest.Bits[i] += v
			}
		}
		all = append(all[:historyTop-1], rest)
	}
	res.Series = append(res.Series, all...)
}
