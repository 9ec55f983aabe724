package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCSVSchema(t *testing.T) {
	r := build(t, Both)
	r.Rows[1].Quota = &QuotaUse{Used: 40e9, Limit: 50e9, Resets: t0.Add(24 * time.Hour)}
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "name,bytes,packets,avg_bits,peak_bits,share,up_bytes,down_bytes,quota_used,quota_limit,quota_resets"
	if got := strings.Join(recs[0], ","); got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if len(recs) != 3 || strings.Join(recs[1][:6], ",") != "web,240000000,240000,32000000,32000000,0.883978" {
		t.Errorf("rows %q", recs[1:])
	}
	if recs[1][8] != "" || recs[2][9] != "50000000000" {
		t.Errorf("quota columns %q %q", recs[1][8:], recs[2][8:])
	}
	up := build(t, Up)
	buf.Reset()
	if err := up.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if head, _, _ := strings.Cut(buf.String(), "\n"); head != "name,bytes,packets,avg_bits,peak_bits,share" {
		t.Errorf("one direction's header %q", head)
	}
}

func TestJSONSchema(t *testing.T) {
	r := build(t, Both)
	r.Source = "history /tmp/x"
	r.Rows[0].Quota = &QuotaUse{Used: 1, Limit: 2, Resets: t0}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"from", "to", "step", "source", "groups"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, buf.String())
		}
	}
	if got["step"] != "1s" || got["from"] != "2026-12-01T10:00:00Z" {
		t.Errorf("step %v from %v", got["step"], got["from"])
	}
	groups := got["groups"].([]any)
	share := 0.0
	for _, g := range groups {
		m := g.(map[string]any)
		for _, k := range []string{"name", "bytes", "packets", "avg_bits", "peak_bits", "share", "up_bytes", "down_bytes"} {
			if _, ok := m[k]; !ok {
				t.Errorf("group %v has no %q", m["name"], k)
			}
		}
		share += m["share"].(float64)
	}
	if math.Abs(share-1) > 1e-9 {
		t.Errorf("shares sum to %v", share)
	}
	if q := groups[0].(map[string]any)["quota"].(map[string]any); q["limit"] != 2.0 {
		t.Errorf("quota %v", q)
	}
	if _, ok := groups[1].(map[string]any)["quota"]; ok {
		t.Errorf("a group without a quota has one in JSON")
	}
}

func TestTable(t *testing.T) {
	r := build(t, Both)
	r.Source = "from history in /var/lib/shaper/history"
	r.Rows[0].Quota = &QuotaUse{Used: 40e9, Limit: 50e9, Resets: t0.Add(24 * time.Hour)}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"shaper: bandwidth by app, 2026-12-01 10:00:00 – 10:01:00 (1s), upload and download, from history in /var/lib/shaper/history",
		"240 MB", "32.0 Mbit/s", "16.0 Mbit/s", "88.4%", "40.0 GB of 50.0 GB (80%)", "2026-12-02 10:00", "total",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Bytes(999), "999 B"}, {Bytes(1500), "1.50 kB"}, {Bytes(52_300_000_000), "52.3 GB"},
		{Bits(64_000), "64.0 kbit/s"}, {Bits(8e6), "8.00 Mbit/s"}, {Bits(2.5e9), "2.50 Gbit/s"},
		{bitsLabel(2.5e6), "2.5M"}, {bitsLabel(0), "0"}, {bitsLabel(500e3), "500k"},
		{span(24 * time.Hour), "1d"}, {span(time.Hour), "1h"}, {span(5 * time.Minute), "5m"}, {span(10 * time.Second), "10s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 6, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"24h", now.Add(-24 * time.Hour)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"2w", now.Add(-14 * 24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-12-01 15:04", time.Date(2026, 12, 1, 15, 4, 0, 0, time.UTC)},
		{"2026-12-01T15:04:05Z", time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC)},
		{"2026-12-01T15:04:05+01:00", time.Date(2026, 12, 1, 14, 4, 5, 0, time.UTC)},
		{"now", now},
	} {
		got, err := ParseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"yesterday", "-1h", "7x", "2026-13-01", ""} {
		if _, err := ParseTime(bad, now); err == nil || !strings.Contains(err.Error(), "use a span") && !strings.Contains(err.Error(), "positive") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	if _, _, err := Interval("2026-12-02", "2026-12-01", now); err == nil || !strings.Contains(err.Error(), "not before") {
		t.Errorf("reversed interval: %v", err)
	}
	if _, _, err := Interval("1h", "soon", now); err == nil || !strings.Contains(err.Error(), "--until") {
		t.Errorf("bad --until: %v", err)
	}
}

func TestParseTimeDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	// A week back across the end of summer time is the same local time,
	// 169 hours ago.
	now := time.Date(2026, 10, 28, 12, 0, 0, 0, berlin)
	got, err := ParseTime("7d", now)
	if err != nil || got.Hour() != 12 || now.Sub(got) != 169*time.Hour {
		t.Errorf("7d before %v: %v (%v), %v", now, got, now.Sub(got), err)
	}
}
