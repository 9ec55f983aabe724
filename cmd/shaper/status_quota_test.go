package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// `shaper validate` reports a quota's then class that is not a leaf of
// the app's direction at its file:line:col, exit 2.
func TestValidateQuota(t *testing.T) {
	p := writeFile(t, "q.yaml", `version: 1
apps:
  - name: bulk
    match: {proto: tcp, dport: 5201}
    quota: {volume: 12MB, per: day, then: slwo}
interfaces:
  - name: eth0
    egress:
      rate: 100mbit
      default: slow
      classes:
        - {name: fast, rate: 20mbit, apps: [bulk]}
        - {name: slow, rate: 5mbit}
`)
	out, code := run(t, "validate", p)
	if code != 2 || !strings.Contains(out, `q.yaml:5:43: quota then class "slwo" does not exist in egress of "eth0", where app "bulk" is in class "fast"`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

// status shows each quota app's use against its budget from the history,
// and says so when there is none.
func TestStatusQuotas(t *testing.T) {
	old := shaper.StateDir
	shaper.StateDir = t.TempDir()
	t.Cleanup(func() { shaper.StateDir = old })
	pol, err := policy.Parse("p.yaml", []byte(`version: 1
apps:
  - {name: bulk, match: {proto: tcp, dport: 5201}, quota: {volume: 12MB, per: day, then: slow}}
interfaces:
  - {name: eth0, egress: {rate: 100mbit, default: slow, classes: [{name: fast, rate: 20mbit, apps: [bulk]}, {name: slow, rate: 5mbit}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	st := &shaper.State{Netns: "lab", Iface: "eth0", Apps: pol.Apps, Interface: pol.Interfaces[0]}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sq := readQuotas("lab", false, dir)
	if sq == nil || !strings.Contains(sq.Unknown, "no history in "+filepath.Join(dir, "history")+": shaper serve keeps it") ||
		len(sq.Quotas) != 1 || sq.Quotas[0].Limit != 12e6 {
		t.Fatalf("without history: %+v", sq)
	}
	var b bytes.Buffer
	sq.writeTable(&b)
	if !strings.Contains(b.String(), "quota use unknown: no history") || !strings.Contains(b.String(), "bulk             ? of 12.0 MB per day (both)") {
		t.Errorf("table without history:\n%s", b.String())
	}

	hs, err := history.Open(filepath.Join(dir, "history"), history.Options{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k := history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindApp, Name: "bulk"}
	now := time.Now()
	for i, v := range []uint64{0, 6e6, 13e6} {
		if err := hs.Record(now.Add(time.Duration(i-3)*time.Second), []history.Reading{{Key: k, Bytes: v}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	sq = readQuotas("lab", false, dir)
	if sq == nil || sq.Unknown != "" || sq.Quotas[0].Used != 13e6 || !sq.Quotas[0].Exhausted {
		t.Fatalf("with history: %+v", sq)
	}
	b.Reset()
	sq.writeTable(&b)
	if !strings.Contains(b.String(), "bulk             13.0 MB (108%) of 12.0 MB per day (both), resets ") || !strings.Contains(b.String(), "USED UP: in class slow") {
		t.Errorf("table:\n%s", b.String())
	}
	t.Logf("\n%s", b.String())
}
