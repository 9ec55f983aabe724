package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shaperdev/shaper/exporter"
	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/report"
	"github.com/shaperdev/shaper/shaper"
)

// historyDir is where serve keeps history under its state directory.
func historyDir(stateDir string) string { return filepath.Join(stateDir, "history") }

// historyReport reports from the store; nil without a store or without
// samples in the interval, for the caller to fall back, with the reason.
func historyReport(stateDir string, o report.Options, from, to time.Time, step time.Duration) (*report.Report, string, error) {
	dir := historyDir(stateDir)
	// Read-only: serve may be writing the store, and a report must not
	// create one where there is none.
	s, err := history.OpenReadOnly(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Sprintf("no history in %s (is `shaper serve --state-dir %s` running?)", dir, stateDir), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	first, last, ok := s.Span()
	if !ok {
		return nil, fmt.Sprintf("no history in %s yet (serve records a sample every --interval)", dir), nil
	}
	if !first.Before(to) || last.Before(from) {
		return nil, fmt.Sprintf("no history in %s for this interval (it holds %s to %s)", dir,
			first.Local().Format(time.DateTime), last.Local().Format(time.DateTime)), nil
	}
	// The average is over the time history covers: a store begun an hour
	// ago does not spread its hour over the day asked for. Steps are whole
	// (the store's buckets), and so is the interval they average over.
	clipped := from.Before(first)
	from, to = later(from, first), earlier(to, last.Add(time.Second))
	if step == 0 {
		step = s.Resolution(from, to)
	}
	from, to = from.Truncate(step), ceil(to, step)
	series, err := s.Query(history.Query{From: from, To: to, Step: step, Match: o.Match})
	if err != nil {
		return nil, "", fmt.Errorf("query history in %s: %w", dir, err)
	}
	if clipped {
		// Span's first may be a roll-up bucket's start, up to an hour
		// before the first sample: start where something was counted.
		from = later(from, firstCounted(series, to))
	}
	rep := report.Build(series, o, from, to, step)
	rep.Source = "from the history in " + dir
	if o.By == report.ByProcess {
		rep.Note = "per process: flows whose process is known, a lower bound of the apps' totals"
	}
	return rep, "", nil
}

// kernelReport reports the totals the kernel counted since the policy was
// applied: no history, so no peak and no chart.
func kernelReport(why string, o report.Options) (*report.Report, error) {
	st, err := shaper.Status(shaper.StatusOptions{Netns: o.Netns, CountersOnly: true})
	if err != nil {
		return nil, fmt.Errorf("%s, and the kernel counters: %w", why, err)
	}
	totals := map[history.Key]history.Totals{}
	r := exporter.FromStatus(st)
	for _, a := range r.Apps {
		totals[key(a.Where, history.KindApp, a.App)] = history.Totals{Bytes: a.Bytes, Packets: a.Packets}
	}
	for _, c := range r.Classes {
		totals[key(c.Where, history.KindClass, c.Class)] = history.Totals{Bytes: c.Bytes, Packets: c.Packets}
	}
	var applied time.Time
	for _, ifc := range st.Interfaces {
		if o.Iface == "" || ifc.Iface == o.Iface {
			applied = earliest(applied, ifc.AppliedAt)
		}
	}
	rep := report.FromTotals(totals, o, applied, time.Now())
	rep.Source = "from the kernel counters"
	rep.Note = why + ": totals since the policy was applied, from the kernel counters"
	return rep, nil
}

func key(w exporter.Where, kind, name string) history.Key {
	return history.Key{Netns: w.Netns, Iface: w.Iface, Direction: w.Direction, Kind: kind, Name: name}
}

// promReport asks a Prometheus server for the increase of shaper's
// counters in each step of the interval.
func promReport(base string, o report.Options, from, to time.Time, step time.Duration) (*report.Report, error) {
	if step == 0 {
		step = report.PromStep(from, to)
	}
	from, to = from.Truncate(step), to.Truncate(step)
	if !from.Before(to) {
		return nil, usageError{fmt.Errorf("the interval is shorter than the step %v: widen it or pass a smaller --step", step)}
	}
	bq, pq := report.PromQueries(o, step)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bytesBody, err := promRange(ctx, base, bq, from, to, step)
	if err != nil {
		return nil, err
	}
	defer bytesBody.Close()
	packetsBody, err := promRange(ctx, base, pq, from, to, step)
	if err != nil {
		return nil, err
	}
	defer packetsBody.Close()
	series, err := report.PromSeries(bytesBody, packetsBody, o.By, step)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	rep := report.Build(series, o, from, to, step)
	rep.Source = "from Prometheus at " + base
	return rep, nil
}

// promRange runs one range query; the values at from+step...to are the
// increases of the steps [from, to).
func promRange(ctx context.Context, base, query string, from, to time.Time, step time.Duration) (io.ReadCloser, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, usageError{fmt.Errorf("--prometheus %q: give the server's address, as http://localhost:9090", base)}
	}
	u = u.JoinPath("api/v1/query_range")
	u.RawQuery = url.Values{"query": {query}, "start": {unixString(from.Add(step))}, "end": {unixString(to)},
		"step": {strconv.Itoa(int(step.Seconds()))}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus query: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus query: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
		resp.Body.Close()
		return nil, fmt.Errorf("prometheus query at %s: %s", base, resp.Status)
	}
	return resp.Body, nil // 400 and 422 carry the error in JSON, which PromSeries reports
}

func unixString(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func ceil(t time.Time, d time.Duration) time.Time {
	if c := t.Truncate(d); !c.Equal(t) {
		return c.Add(d)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// classParents names the classes of the applied policy that hold others,
// so that a report by class counts their bytes once, in their children.
// It is best effort: without the kernel's view (not root, nothing applied)
// the report knows only that "root" holds the rest.
func classParents(netns string) map[string]bool {
	st, err := shaper.Status(shaper.StatusOptions{Netns: netns, CountersOnly: true})
	if err != nil {
		return nil
	}
	parents := map[string]bool{}
	for _, ifc := range st.Interfaces {
		for _, d := range []*shaper.DirStatus{&ifc.Egress, ifc.Ingress} {
			if d == nil {
				continue
			}
			held := map[string]bool{}
			for _, c := range d.Classes {
				held[c.Parent] = true
			}
			for _, c := range d.Classes {
				if c.Name != "" && held[c.ID] {
					parents[c.Name] = true
				}
			}
		}
	}
	return parents
}

// firstCounted is the start of the first step any series counted in (to
// when none did).
func firstCounted(series []history.Series, to time.Time) time.Time {
	first := to
	for _, s := range series {
		for _, p := range s.Points {
			if p.Bytes > 0 || p.Packets > 0 {
				first = earlier(first, p.T)
				break
			}
		}
	}
	return first
}
