package exporter

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// fakeUse is a history store of counted bytes at instants.
type fakeUse struct {
	events []fakeEvent
}

type fakeEvent struct {
	t     time.Time
	k     history.Key
	bytes uint64
}

func (f *fakeUse) add(t time.Time, k history.Key, b uint64) {
	f.events = append(f.events, fakeEvent{t, k, b})
}

func (f *fakeUse) Sum(from, to time.Time, match func(history.Key) bool) (map[history.Key]history.Totals, error) {
	out := map[history.Key]history.Totals{}
	for _, e := range f.events {
		if !e.t.Before(from) && e.t.Before(to) && match(e.k) {
			t := out[e.k]
			t.Bytes += e.bytes
			out[e.k] = t
		}
	}
	return out, nil
}

const quotaFixture = `version: 1
apps:
  - name: bulk
    match: {proto: tcp, dport: 5201}
    quota: {volume: 12MB, per: day, then: slow}
  - name: up
    match: {proto: tcp, dport: 22}
    quota: {volume: 1kB, per: week, then: slow, direction: up}
interfaces:
  - name: eth0
    egress:
      rate: 100mbit
      default: slow
      classes:
        - {name: fast, rate: 20mbit, apps: [bulk, up]}
        - {name: slow, rate: 5mbit}
  - name: eth1
    netns: other
    ingress: {}
`

func appKey(netns, iface, dir, app string) history.Key {
	return history.Key{Netns: netns, Iface: iface, Direction: dir, Kind: history.KindApp, Name: app}
}

func TestQuotaUses(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(quotaFixture))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)
	f := &fakeUse{}
	f.add(now.Add(-time.Hour), appKey("lab", "eth0", "egress", "bulk"), 5e6)
	f.add(now.Add(-time.Hour), appKey("other", "eth1", "ingress", "bulk"), 6e6)
	f.add(now.Add(-13*time.Hour), appKey("lab", "eth0", "egress", "bulk"), 1e9) // yesterday
	f.add(now.Add(-time.Hour), appKey("", "eth0", "egress", "bulk"), 1e9)       // another namespace's eth0
	f.add(now.Add(-time.Hour), history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindClass, Name: "bulk"}, 1e9)
	f.add(now.Add(-time.Hour), appKey("lab", "eth0", "ingress", "up"), 5000)  // down does not count
	f.add(now.Add(-50*time.Hour), appKey("lab", "eth0", "egress", "up"), 999) // Friday: this week
	uses, err := QuotaUses(pol, f, "lab", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 2 {
		t.Fatalf("uses %+v", uses)
	}
	b, u := uses[0], uses[1]
	if b.App != "bulk" || b.Used != 11e6 || b.Limit != 12e6 || b.Exhausted || b.Direction != "both" || b.Then != "slow" ||
		!b.Resets.Equal(time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("bulk %+v", b)
	}
	if u.App != "up" || u.Used != 999 || u.Exhausted || !u.Since.Equal(time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("up %+v", u)
	}
}

// A quota that runs out moves its app to slow in what is applied, logs it,
// survives a reload of the file and ends with the period.
func TestQuotasCycle(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(quotaFixture))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	now := time.Date(2026, 10, 25, 22, 0, 0, 0, time.UTC)
	f := &fakeUse{}
	q := &Quotas{Store: f, Netns: "lab", Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }}
	reapplied := 0
	apply := func(p *policy.Policy) *policy.Policy { // what Policy.applyParsed does
		eff, spent := q.Plan(p)
		q.Applied(p, spent)
		reapplied++
		return eff
	}
	eff := apply(pol)
	if eff != pol || q.changed() {
		t.Fatal("moved an app with nothing used")
	}
	f.add(now.Add(-time.Minute), appKey("lab", "eth0", "egress", "bulk"), 12e6)
	if !q.changed() {
		t.Fatal("no change after the quota ran out")
	}
	eff = apply(pol)
	if got := eff.Interfaces[0].Egress.AppClass()["bulk"]; got != "slow" {
		t.Fatalf("bulk in %q, want slow", got)
	}
	if q.changed() {
		t.Fatal("changed again with nothing new")
	}
	if !strings.Contains(logs.String(), `msg="quota reached" app=bulk used=12000000 volume=12000000 then=slow until=2026-10-26T00:00:00Z`) {
		t.Errorf("log:\n%s", logs.String())
	}
	// A reload of the file (a new parse) keeps the override.
	pol2, _ := policy.Parse("p.yaml", []byte(quotaFixture))
	if got := apply(pol2).Interfaces[0].Egress.AppClass()["bulk"]; got != "slow" {
		t.Fatalf("after a reload bulk in %q, want slow", got)
	}
	err = testutil.CollectAndCompare(q, strings.NewReader(`
# HELP shaper_quota_exhausted 1 while the app's quota is used up (it is in its quota's then class when serve enforces quotas), else 0.
# TYPE shaper_quota_exhausted gauge
shaper_quota_exhausted{app="bulk"} 1
shaper_quota_exhausted{app="up"} 0
# HELP shaper_quota_limit_bytes The app's quota volume per period.
# TYPE shaper_quota_limit_bytes gauge
shaper_quota_limit_bytes{app="bulk"} 1.2e+07
shaper_quota_limit_bytes{app="up"} 1000
# HELP shaper_quota_reset_timestamp_seconds When the app's current quota period ends (Unix time).
# TYPE shaper_quota_reset_timestamp_seconds gauge
shaper_quota_reset_timestamp_seconds{app="bulk"} 1.7929728e+09
shaper_quota_reset_timestamp_seconds{app="up"} 1.7929728e+09
# HELP shaper_quota_used_bytes Bytes the app used in its quota's current period (the directions its quota counts, all interfaces).
# TYPE shaper_quota_used_bytes gauge
shaper_quota_used_bytes{app="bulk"} 1.2e+07
shaper_quota_used_bytes{app="up"} 0
`))
	if err != nil {
		t.Error(err)
	}
	if probs, err := testutil.CollectAndLint(q); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", probs, err)
	}
	// Midnight: a new period, the app goes back.
	now = time.Date(2026, 10, 26, 0, 0, 1, 0, time.UTC)
	if !q.changed() {
		t.Fatal("no change at the new period")
	}
	if eff := apply(pol2); eff != pol2 {
		t.Fatal("the app stayed moved in a new period")
	}
	if !strings.Contains(logs.String(), `msg="quota period ended; the app is back in its class" app=bulk`) {
		t.Errorf("log:\n%s", logs.String())
	}
}

// Use comes from the history store as serve records it: the first reading
// of a key is its baseline, a reset (new maps) is counted whole, and a
// reader opened after a restart sees the same use.
func TestQuotaUsesFromStore(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(quotaFixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st, err := history.Open(dir, history.Options{Interval: time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	k := appKey("lab", "eth0", "egress", "bulk")
	for i, b := range []uint64{1e6, 5e6, 9e6, 2e6} { // baseline, +4, +4, reset +2 MB
		if err := st.Record(t0.Add(time.Duration(i)*time.Second), []history.Reading{{Key: k, Bytes: b}}); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(3 * time.Second)
	uses, err := QuotaUses(pol, st, "lab", now)
	if err != nil {
		t.Fatal(err)
	}
	if uses[0].Used != 10e6 || uses[0].Exhausted {
		t.Errorf("writer: bulk %+v", uses[0])
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := history.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if uses, err := QuotaUses(pol, ro, "lab", now); err != nil || uses[0].Used != 10e6 {
		t.Errorf("reader: %+v, %v", uses, err)
	}
}

// Without --policy serve reads the quotas from shaper's state, exports
// their use and says once that a spent one is not enforced.
func TestQuotasObserve(t *testing.T) {
	old := shaper.StateDir
	shaper.StateDir = t.TempDir()
	t.Cleanup(func() { shaper.StateDir = old })
	pol, err := policy.Parse("p.yaml", []byte(quotaFixture))
	if err != nil {
		t.Fatal(err)
	}
	st := &shaper.State{Netns: "lab", Iface: "eth0", Apps: pol.Apps, Interface: pol.Interfaces[0]}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f := &fakeUse{}
	f.add(now.Add(-time.Hour), appKey("lab", "eth0", "ingress", "bulk"), 13e6)
	var logs bytes.Buffer
	q := &Quotas{Store: f, Netns: "lab", Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Observe(ctx, 10*time.Millisecond); close(done) }()
	waitUntil(t, func() bool { return len(q.Status()) == 2 })
	time.Sleep(50 * time.Millisecond) // a few more rounds: one warning all the same
	cancel()
	<-done
	if u := q.Status()[0]; u.App != "bulk" || u.Used != 13e6 || !u.Exhausted {
		t.Errorf("bulk %+v", u)
	}
	if n := strings.Count(logs.String(), `msg="quota reached but not enforced`); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 5 s")
}
