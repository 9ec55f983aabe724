package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/report"
)

// recordHistory writes two minutes of 1 s samples ending now into a store
// under a state directory: web uploads 1 MB/s, mail 250 kB/s from the
// minute's start. It returns the directory and the first sample's time.
func recordHistory(t *testing.T) (string, time.Time) {
	t.Helper()
	state := t.TempDir()
	s, err := history.Open(filepath.Join(state, "history"), history.Options{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second).Add(-2 * time.Minute)
	key := func(name string) history.Key {
		return history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindApp, Name: name}
	}
	for i := range uint64(121) {
		mail := uint64(0)
		if i > 60 {
			mail = (i - 60) * 250_000
		}
		rs := []history.Reading{{Key: key("web"), Bytes: i * 1_000_000, Packets: i * 1000}, {Key: key("mail"), Bytes: mail, Packets: mail / 1000}}
		// Processes: curl sends 600 kB/s of web's bytes, fetchmail all of mail's.
		curl, fetchmail := key("curl"), key("fetchmail")
		curl.Kind, fetchmail.Kind = history.KindProcess, history.KindProcess
		rs = append(rs, history.Reading{Key: curl, Bytes: i * 600_000, Packets: i * 600}, history.Reading{Key: fetchmail, Bytes: mail, Packets: mail / 1000})
		if err := s.Record(t0.Add(time.Duration(i)*time.Second), rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return state, t0
}

func TestReportFromStore(t *testing.T) {
	state, t0 := recordHistory(t)
	out, code := run(t, "report", "--state-dir", state, "--netns", "lab", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var r report.JSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The average is over the two minutes history holds, not the day asked:
	// from the first sample that counted (the first reading is a baseline).
	if r.Step != "1s" || len(r.Groups) != 2 || r.From == nil || r.From.Sub(t0) != time.Second {
		t.Fatalf("report from %v (first sample %v): %s", r.From, t0, out)
	}
	web, mail := r.Groups[0], r.Groups[1]
	if web.Name != "web" || web.Bytes != 120_000_000 || *web.PeakBits != 8_000_000 || *web.UpBytes != 120_000_000 {
		t.Errorf("web %+v", web)
	}
	if mail.Bytes != 15_000_000 || *mail.PeakBits != 2_000_000 {
		t.Errorf("mail %+v", mail)
	}
	secs := r.To.Sub(*r.From).Seconds()
	if want := uint64(120e6*8/secs + 0.5); web.AvgBits != want || secs != 120 {
		t.Errorf("web average %d over %v s, want %d", web.AvgBits, secs, want)
	}

	// The last minute only, as a table: mail's share is 20%.
	out, code = run(t, "report", "--state-dir", state, "--netns", "lab", "--since", t0.Add(61*time.Second).Format(time.RFC3339), "--direction", "up")
	if code != 0 || !strings.Contains(out, "from the history in "+state) || !strings.Contains(out, "20.0%") || !strings.Contains(out, "2.00 Mbit/s") {
		t.Errorf("exit %d, table:\n%s", code, out)
	}
	// Outside what history holds, the report falls back to the kernel
	// (here: a namespace that does not exist) and says why.
	out, _ = run(t, "report", "--state-dir", state, "--netns", "no-such-lab-ns", "--since", "2020-01-01", "--until", "2020-01-02")
	if !strings.Contains(out, "for this interval (it holds "+t0.Local().Format(time.DateOnly)) {
		t.Errorf("a report before history began: %s", out)
	}
	out, code = run(t, "report", "--state-dir", state, "--netns", "lab", "-o", "svg", "--out", filepath.Join(t.TempDir(), "r.svg"))
	if code != 0 {
		t.Errorf("svg: exit %d: %s", code, out)
	}
}

func TestReportByProcess(t *testing.T) {
	state, _ := recordHistory(t)
	out, code := run(t, "report", "--state-dir", state, "--netns", "lab", "--by", "process", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var r report.JSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.By != "process" || len(r.Groups) != 2 || r.Groups[0].Name != "curl" || r.Groups[0].Bytes != 72_000_000 ||
		r.Groups[1].Name != "fetchmail" || r.Groups[1].Bytes != 15_000_000 || !strings.Contains(r.Note, "lower bound") {
		t.Errorf("report by process: %s", out)
	}
	out, code = run(t, "report", "--state-dir", state, "--netns", "lab", "--by", "process", "-o", "svg", "--out", filepath.Join(t.TempDir(), "p.svg"))
	if code != 0 {
		t.Errorf("svg: exit %d: %s", code, out)
	}
	// Without history there is nothing per process: the kernel counts apps.
	out, code = run(t, "report", "--state-dir", t.TempDir(), "--netns", "no-such-lab-ns", "--by", "process")
	if code == 0 || !strings.Contains(out, "per-process totals need history: run shaper serve") {
		t.Errorf("by process without history: exit %d, %s", code, out)
	}
}

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--by", "process", "--prometheus", "http://localhost:9090"}, "no per-process metrics"},
		{[]string{"report", "--by", "host"}, "use app, class or process"},
		{[]string{"report", "--direction", "left"}, "up, down or both"},
		{[]string{"report", "-o", "xml"}, "use -o table, csv, json, svg, png"},
		{[]string{"report", "--since", "yesterday"}, "--since"},
		{[]string{"report", "--since", "1h", "--until", "2h"}, "not before"},
		{[]string{"report", "--step", "1500ms"}, "whole seconds"},
		{[]string{"report", "--prometheus", "localhost"}, "http://localhost:9090"},
		{[]string{"report", "extra"}, "accepts 0 arg"},
	} {
		out, code := run(t, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("shaper %s: exit %d, %s; want exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}
