package exporter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

// fakeHistory answers every query with its series, filtered by q.Match.
type fakeHistory struct {
	series []history.Series
	err    error
	first  time.Time
	got    history.Query
}

func (f *fakeHistory) Query(q history.Query) ([]history.Series, error) {
	f.got = q
	var out []history.Series
	for _, s := range f.series {
		if q.Match == nil || q.Match(s.Key) {
			out = append(out, s)
		}
	}
	return out, f.err
}

func (f *fakeHistory) Resolution(from, to time.Time) time.Duration { return 5 * time.Minute }

// Span starts at the first point, or a week ago when first is zero.
func (f *fakeHistory) Span() (time.Time, time.Time, bool) {
	if f.first.IsZero() && len(f.series) > 0 {
		return time.Unix(0, 0), time.Now(), true
	}
	return f.first, time.Now(), !f.first.IsZero()
}

func pts(start time.Time, step time.Duration, bytes ...uint64) []history.Point {
	var p []history.Point
	for i, b := range bytes {
		p = append(p, history.Point{T: start.Add(time.Duration(i) * step), Totals: history.Totals{Bytes: b}})
	}
	return p
}

func TestHistoryFor(t *testing.T) {
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)
	step := 5 * time.Minute
	s0 := now.Add(-10 * time.Minute)
	key := func(iface, dir, kind, name string) history.Key {
		return history.Key{Netns: "lab", Iface: iface, Direction: dir, Kind: kind, Name: name}
	}
	f := &fakeHistory{series: []history.Series{
		{Key: key("eth0", "egress", history.KindApp, "web"), Points: pts(s0, step, 300e6, 0)},
		{Key: key("eth0", "ingress", history.KindApp, "web"), Points: pts(s0, step, 0, 150e6)},
		{Key: key("eth1", "egress", history.KindApp, "web"), Points: pts(s0.Add(step), step, 150e6)},
		{Key: key("eth0", "egress", history.KindApp, "mail"), Points: pts(s0, step, 75e6, 75e6)},
		{Key: key("eth0", "egress", history.KindApp, "idle"), Points: pts(s0, step, 0, 0)},
		{Key: key("eth0", "egress", history.KindClass, "web"), Points: pts(s0, step, 1e12, 1e12)},
	}}
	got, err := historyFor(f, "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	// 24 h in at most 300 points of a multiple of the store's 5 min: 5 min.
	if f.got.Step != step || !f.got.From.Equal(now.Add(-24*time.Hour)) || got.Step != 300 {
		t.Errorf("query %v from %v, answer step %v", f.got.Step, f.got.From, got.Step)
	}
	want := []HistorySeries{
		{Name: "web", Bytes: 600e6, Bits: []float64{8e6, 8e6}}, // 300 MB in 300 s is 8 Mbit/s
		{Name: "mail", Bytes: 150e6, Bits: []float64{2e6, 2e6}},
	}
	if !reflect.DeepEqual(got.Series, want) || !reflect.DeepEqual(got.Times, []int64{s0.UnixMilli(), s0.Add(step).UnixMilli()}) {
		t.Errorf("series %+v at %v, want %+v", got.Series, got.Times, want)
	}
	if got, _ := historyFor(f, "1h", "up", now); len(got.Series) != 2 || got.Series[0].Bytes != 450e6 {
		t.Errorf("up only: %+v", got.Series)
	}
	if got, _ := historyFor(nil, "24h", "", now); got.Note == "" || got.Series == nil || got.Times == nil {
		t.Errorf("no store: %+v", got)
	}
	if got, _ := historyFor(&fakeHistory{}, "24h", "", now); !strings.HasPrefix(got.Note, "no history yet") {
		t.Errorf("empty store: %+v", got)
	}
	// A history of 10 minutes is drawn from its start, not as 24 h.
	young := &fakeHistory{series: f.series, first: s0}
	if got, _ := historyFor(young, "24h", "", now); !got.From.Equal(s0) || young.got.From != s0 {
		t.Errorf("young history: from %v, queried from %v", got.From, young.got.From)
	}
	if got, _ := historyFor(&fakeHistory{err: errors.New("disk gone"), first: s0}, "24h", "", now); !strings.Contains(got.Note, "disk gone") {
		t.Errorf("failing store: %+v", got)
	}
	for _, bad := range [][2]string{{"yesterday", ""}, {"-1h", ""}, {"500d", ""}, {"0s", ""}, {"1h", "sideways"}} {
		if _, err := historyFor(f, bad[0], bad[1], now); err == nil {
			t.Errorf("since=%q direction=%q: no error", bad[0], bad[1])
		}
	}
}

// Many apps: the largest keep a band of their own, the rest share one.
func TestHistoryOtherApps(t *testing.T) {
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)
	f := &fakeHistory{}
	for i := range 12 {
		f.series = append(f.series, history.Series{
			Key:    history.Key{Iface: "eth0", Direction: "egress", Kind: history.KindApp, Name: string(rune('a' + i))},
			Points: pts(now.Add(-time.Hour), 5*time.Minute, uint64(i+1)*1e6)})
	}
	got, _ := historyFor(f, "1h", "", now)
	if len(got.Series) != historyTop || got.Series[0].Name != "l" || got.Series[historyTop-1].Name != "other apps" ||
		got.Series[historyTop-1].Bytes != (1+2+3+4+5)*1e6 {
		t.Errorf("series: %+v", got.Series)
	}
}

func TestHistoryStep(t *testing.T) {
	for _, tc := range []struct{ span, res, want time.Duration }{
		{time.Hour, 10 * time.Second, 30 * time.Second},
		{time.Hour, time.Minute, time.Minute},
		{40 * time.Second, time.Second, time.Second},
		{24 * time.Hour, 10 * time.Second, 5 * time.Minute},
		{24 * time.Hour, 5 * time.Minute, 5 * time.Minute},
		{7 * 24 * time.Hour, 5 * time.Minute, time.Hour},
		{30 * 24 * time.Hour, time.Hour, 3 * time.Hour},
		{400 * 24 * time.Hour, time.Hour, 48 * time.Hour},
		{time.Hour, 0, 30 * time.Second},
		{time.Hour, 7 * time.Second, 14 * time.Second},
	} {
		if got := historyStep(tc.span, tc.res); got != tc.want {
			t.Errorf("historyStep(%v, %v) = %v, want %v", tc.span, tc.res, got, tc.want)
		}
	}
}

// The chart's endpoint on a real store: a young history of one minute at
// 1 s is drawn from its first sample in 1 s steps, its rates what was
// recorded; serve without history (no sampler, or no store) has a note.
func TestPageHistoryFromStore(t *testing.T) {
	start := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)
	now := start.Add(time.Minute)
	st, err := history.Open(t.TempDir(), history.Options{Interval: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := func(dir, name string) history.Key {
		return history.Key{Iface: "eth0", Direction: dir, Kind: history.KindApp, Name: name}
	}
	for i := range 61 {
		n := uint64(i)
		if err := st.Record(start.Add(time.Duration(i)*time.Second), []history.Reading{
			{Key: key("egress", "web"), Bytes: n * 5e6}, {Key: key("ingress", "web"), Bytes: n * 1e6},
			{Key: key("egress", "mail"), Bytes: n * 2.5e6}}); err != nil {
			t.Fatal(err)
		}
	}
	p := &page{o: Options{History: &Sampler{Store: st}}}
	got, err := historyFor(p.history(), "24h", "", now)
	if err != nil || got.Note != "" || got.Step != 1 || len(got.Series) != 2 {
		t.Fatalf("history: %v, %+v", err, got)
	}
	for _, s := range got.Series {
		want := map[string]float64{"web": 48e6, "mail": 20e6}[s.Name]
		mid := s.Bits[len(s.Bits)/2]
		if mid != want {
			t.Errorf("%s: %v bit/s in the middle step, want %v (all: %v)", s.Name, mid, want, s.Bits)
		}
	}
	for _, o := range []Options{{}, {History: &Sampler{}}} {
		p := &page{o: o}
		if got, _ := historyFor(p.history(), "24h", "", now); got.Note == "" {
			t.Errorf("no store: %+v", got)
		}
	}
}
