package exporter

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	up   = Where{"lab", "eth0", "egress"}
	down = Where{"lab", "eth0", "ingress"}
	t0   = time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
)

// Two readings 2 s apart: web sent 1 MB and received 5 MB, mail's counter
// was reset (a new policy) and counted 250 kB since, video is new.
func rateFixture() (snapshot, snapshot) {
	a := snapshot{t: t0, r: &Reading{
		Apps: []AppSample{{Where: up, App: "web", Bytes: 10e6}, {Where: down, App: "web", Bytes: 50e6},
			{Where: up, App: "mail", Bytes: 9e9}},
		Classes: []ClassSample{{Where: up, Class: "web", Bytes: 10e6, RateBytes: 5e6, CeilBytes: 5e6},
			{Where: up, Class: "root", Bytes: 20e6, RateBytes: 12.5e6}},
	}}
	b := snapshot{t: t0.Add(2 * time.Second), r: &Reading{
		Apps: []AppSample{{Where: up, App: "web", Bytes: 11e6}, {Where: down, App: "web", Bytes: 55e6},
			{Where: up, App: "mail", Bytes: 250e3}, {Where: down, App: "video", Bytes: 2e6}},
		Classes: []ClassSample{{Where: up, Class: "web", Bytes: 11e6, RateBytes: 5e6, CeilBytes: 5e6},
			{Where: up, Class: "root", Bytes: 21.5e6, RateBytes: 12.5e6}},
	}}
	return a, b
}

func TestRateBetween(t *testing.T) {
	got := rateBetween(rateFixture())
	wantApps := []AppRate{
		{"lab", "eth0", "mail", 1e6, 0},
		{"lab", "eth0", "video", 0, 8e6},
		{"lab", "eth0", "web", 4e6, 20e6},
	}
	if !reflect.DeepEqual(got.Apps, wantApps) {
		t.Errorf("apps:\n got %+v\nwant %+v", got.Apps, wantApps)
	}
	wantClasses := []ClassRate{
		{"lab", "eth0", "egress", "root", 6e6, 100e6, 0},
		{"lab", "eth0", "egress", "web", 4e6, 40e6, 40e6},
	}
	if !reflect.DeepEqual(got.Classes, wantClasses) {
		t.Errorf("classes:\n got %+v\nwant %+v", got.Classes, wantClasses)
	}
	if got.Seconds != 2 || !got.Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("interval: %v s ending %v", got.Seconds, got.Time)
	}
	// One reading only, or none: nothing to rate, empty lists (not null).
	a, _ := rateFixture()
	if r := rateBetween(a, a); r.Apps == nil || len(r.Apps) != 0 || r.Classes == nil {
		t.Errorf("one reading: %+v", r)
	}
}

// /api/rates as the page reads it: the field names and units of the JSON,
// from two fixture readings the tracker takes on the first request.
func TestPageRatesJSON(t *testing.T) {
	a, b := rateFixture()
	readings := []snapshot{a, b}
	n := 0
	src := SourceFunc(func() (*Reading, error) { r := readings[min(n, 1)].r; n++; return r, nil })
	clock := t0
	p := &page{o: Options{Version: "v9", Netns: "lab", Log: slog.New(slog.DiscardHandler)}, host: "box",
		rates: &rateTracker{sources: []Source{src}, now: func() time.Time { c := clock; clock = clock.Add(time.Second); return c }}}
	rec := httptest.NewRecorder()
	p.serveRates(rec, httptest.NewRequest("GET", "/api/rates", nil))
	if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || ct != "application/json" {
		t.Fatalf("%d %s", rec.Code, ct)
	}
	var got any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var want any
	_ = json.Unmarshal([]byte(`{"host":"box","version":"v9","netns":"lab","time":"2026-03-29T01:00:02Z","seconds":1,
		"apps":[{"netns":"lab","iface":"eth0","name":"mail","up_bits":2000000,"down_bits":0},
		        {"netns":"lab","iface":"eth0","name":"video","up_bits":0,"down_bits":16000000},
		        {"netns":"lab","iface":"eth0","name":"web","up_bits":8000000,"down_bits":40000000}],
		"classes":[{"netns":"lab","iface":"eth0","direction":"egress","name":"root","bits":12000000,"rate_bits":100000000,"ceil_bits":0},
		           {"netns":"lab","iface":"eth0","direction":"egress","name":"web","bits":8000000,"rate_bits":40000000,"ceil_bits":40000000}]}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("/api/rates:\n got %s\nwant %v", rec.Body, want)
	}
	// A second request within a second shares the readings.
	clock = t0.Add(2500 * time.Millisecond) // the last reading was at 2 s
	p.rates.now = func() time.Time { return clock }
	p.serveRates(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/rates", nil))
	if n != 2 {
		t.Errorf("%d readings for two requests within a second, want 2", n)
	}
}

// The page is self-contained: every reference is to this server, the
// assets come from the binary, and the browser is told to load nothing
// else.
func TestPageSelfContained(t *testing.T) {
	m := http.NewServeMux()
	registerPage(m, Options{Version: "v1.2.3", Log: slog.New(slog.DiscardHandler)}, fixtureSources())
	srv := httptest.NewServer(m)
	defer srv.Close()
	fetch := func(path, wantType string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, wantType) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); wantType != "application/json" && !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		return string(b)
	}
	html := fetch("/", "text/html")
	for _, want := range []string{`name="viewport"`, "v1.2.3", `id="apps"`, `id="chart"`, `id="quotas"`} {
		if !strings.Contains(html, want) {
			t.Errorf("/ lacks %s", want)
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 2 {
		t.Fatalf("/ references %v", refs)
	}
	body := map[string]string{"/": html}
	for _, r := range refs {
		if !strings.HasPrefix(r[1], "/") || strings.HasPrefix(r[1], "//") {
			t.Errorf("/ references %q, not a path on this server", r[1])
		}
		if strings.HasPrefix(r[1], "/assets/") {
			typ := map[bool]string{true: "text/javascript", false: "text/css"}[strings.HasSuffix(r[1], ".js")]
			body[r[1]] = fetch(r[1], typ)
		}
	}
	if len(body) != 3 {
		t.Errorf("want index, script and style sheet: %v", refs)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	for path, b := range body {
		if m := external.FindString(b); m != "" {
			t.Errorf("%s refers outside: %q", path, m)
		}
	}
	if !strings.Contains(body["/assets/app.js"], "data-up-bits") {
		t.Error("the script marks no rate cells (data-up-bits): the browser test reads them")
	}
	for _, path := range []string{"/assets/nope.js", "/nope"} {
		if resp, err := http.Get(srv.URL + path); err != nil || resp.StatusCode != 404 {
			t.Errorf("%s: %v %v, want 404", path, resp.Status, err)
		}
	}
	fetch("/api/rates", "application/json")
}

func TestPageQuotas(t *testing.T) {
	for _, q := range []func() any{nil, func() any { return nil }} {
		if b, _ := json.Marshal(quotasFor(q)); string(b) != `{"quotas":[]}` {
			t.Errorf("no quotas: %s", b)
		}
	}
	use := []map[string]any{{"app": "video", "used_bytes": 51e9, "limit_bytes": 50e9}}
	want := `{"quotas":[{"app":"video","limit_bytes":50000000000,"used_bytes":51000000000}]}`
	if b, _ := json.Marshal(quotasFor(func() any { return use })); string(b) != want {
		t.Errorf("quotas: %s", b)
	}
}

// The tracker reads when asked: requests within a second share readings,
// a later one adds one, a last reading too old to rate against is
// replaced by two fresh ones, and a request that goes away leaves none.
func TestRateTracker(t *testing.T) {
	n := 0
	clock := t0
	src := SourceFunc(func() (*Reading, error) {
		n++
		clock = clock.Add(time.Second) // a reading takes a second here
		return &Reading{Apps: []AppSample{{Where: up, App: "web", Bytes: uint64(n) * 1e6}}}, nil
	})
	rt := &rateTracker{sources: []Source{src}, now: func() time.Time { return clock }}
	ctx := context.Background()
	for _, step := range []struct {
		after time.Duration
		reads int
	}{{0, 2}, {500 * time.Millisecond, 2}, {2 * time.Second, 3}, {time.Minute, 5}} {
		clock = clock.Add(step.after)
		r := rt.rates(ctx)
		// 1 MB between the last two readings, whenever they were.
		if n != step.reads || len(r.Apps) != 1 || r.Apps[0].UpBits != math.Round(8e6/r.Seconds) {
			t.Errorf("after %v: %d readings, %+v over %v s; want %d readings", step.after, n, r.Apps, r.Seconds, step.reads)
		}
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	rt = &rateTracker{sources: []Source{src}, now: time.Now, firstGap: time.Hour}
	if r := rt.rates(gone); len(r.Apps) != 0 || rt.cur.r != nil {
		t.Errorf("request gone: %+v, kept %v", r, rt.cur)
	}
}
