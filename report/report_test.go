package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

func build(t *testing.T, dir string) *Report {
	t.Helper()
	o := Options{By: ByApp, Direction: dir, Netns: "lab"}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	return Build(fixture(), o, t0, t0.Add(time.Minute), time.Second)
}

func TestBuildMath(t *testing.T) {
	r := build(t, Both)
	if len(r.Rows) != 2 || r.Rows[0].Name != "web" || r.Rows[1].Name != "mail" {
		t.Fatalf("rows %+v: want web then mail (by bytes)", r.Rows)
	}
	web, mail := r.Rows[0], r.Rows[1]
	if web.Bytes != 240_000_000 || *web.UpBytes != 60_000_000 || *web.DownBytes != 180_000_000 {
		t.Errorf("web bytes %d up %d down %d", web.Bytes, *web.UpBytes, *web.DownBytes)
	}
	if web.AvgBits != 32_000_000 || *web.PeakBits != 32_000_000 {
		t.Errorf("web avg %d peak %d, want 32 Mbit/s both", web.AvgBits, *web.PeakBits)
	}
	// mail: 59 × 0.5 MB + 2 MB over 60 s; peak is the 2 MB step.
	if mail.Bytes != 31_500_000 || mail.AvgBits != 4_200_000 || *mail.PeakBits != 16_000_000 {
		t.Errorf("mail bytes %d avg %d peak %d", mail.Bytes, mail.AvgBits, *mail.PeakBits)
	}
	if sum := web.Share + mail.Share; math.Abs(sum-1) > 1e-12 {
		t.Errorf("shares sum to %v", sum)
	}
	if len(r.Times) != 60 || len(r.Bits) != 2 || r.Bits[1][10] != 16e6 {
		t.Errorf("chart data: %d steps, %d groups", len(r.Times), len(r.Bits))
	}
}

func TestDirectionFilter(t *testing.T) {
	up := build(t, Up)
	down := build(t, Down)
	if len(up.Rows) != 2 || up.Rows[0].Bytes != 60_000_000 || up.Rows[0].UpBytes != nil {
		t.Errorf("up: %+v", up.Rows)
	}
	if len(down.Rows) != 1 || down.Rows[0].Name != "web" || down.Rows[0].Bytes != 180_000_000 || down.Rows[0].Share != 1 {
		t.Errorf("down: %+v", down.Rows)
	}
	cls := Build(fixture(), Options{By: ByClass, Direction: Both, Netns: "lab"}, t0, t0.Add(time.Minute), time.Second)
	if len(cls.Rows) != 1 || cls.Rows[0].Name != "bulk" {
		t.Errorf("by class: %+v", cls.Rows)
	}
	other := Build(fixture(), Options{By: ByApp, Direction: Both, Netns: "other"}, t0, t0.Add(time.Minute), time.Second)
	if len(other.Rows) != 0 {
		t.Errorf("another namespace's report has rows: %+v", other.Rows)
	}
	iface := Build(fixture(), Options{By: ByApp, Direction: Both, Netns: "lab", Iface: "eth1"}, t0, t0.Add(time.Minute), time.Second)
	if len(iface.Rows) != 0 {
		t.Errorf("another interface's report has rows: %+v", iface.Rows)
	}
}

func TestInterval(t *testing.T) {
	r := Build(fixture(), Options{By: ByApp, Direction: Up, Netns: "lab"}, t0.Add(10*time.Second), t0.Add(20*time.Second), time.Second)
	if r.Rows[1].Name != "mail" || r.Rows[1].Bytes != 2_000_000+9*500_000 || r.Rows[0].Bytes != 10_000_000 {
		t.Errorf("rows in [10s, 20s): %+v", r.Rows)
	}
}

func TestByProcess(t *testing.T) {
	ss := append(fixture(),
		series("egress", history.KindProcess, "curl", 60, time.Second, constant(400_000)),
		series("ingress", history.KindProcess, "curl", 60, time.Second, constant(2_000_000)),
		series("egress", history.KindProcess, "rsync", 60, time.Second, constant(100_000)))
	o := Options{By: ByProcess, Direction: Both, Netns: "lab"}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	r := Build(ss, o, t0, t0.Add(time.Minute), time.Second)
	if len(r.Rows) != 2 || r.Rows[0].Name != "curl" || r.Rows[0].Bytes != 144_000_000 || *r.Rows[0].UpBytes != 24_000_000 ||
		r.Rows[1].Name != "rsync" || r.Rows[1].Bytes != 6_000_000 || *r.Rows[1].PeakBits != 800_000 {
		t.Errorf("rows %+v", r.Rows)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{By: "host", Direction: Both}, "use app, class or process"},
		{Options{By: ByApp, Direction: "sideways"}, "use up, down or both"},
	} {
		err := c.o.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.o, err, c.want)
		}
	}
}

func TestFromTotals(t *testing.T) {
	k := history.Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: history.KindApp}
	web, mail := k, k
	web.Name, mail.Name = "web", "mail"
	r := FromTotals(map[history.Key]history.Totals{web: {Bytes: 3000, Packets: 3}, mail: {Bytes: 1000, Packets: 1}},
		Options{By: ByApp, Direction: Both, Netns: "lab"}, t0, t0.Add(8*time.Second))
	if len(r.Rows) != 2 || r.Rows[0].Name != "web" || r.Rows[0].PeakBits != nil || r.Rows[0].AvgBits != 3000 || r.Rows[0].Share != 0.75 {
		t.Errorf("rows %+v", r.Rows)
	}
	if r.WriteChart(new(strings.Builder), "png") != ErrNoSteps {
		t.Errorf("a chart of totals alone did not say it needs history")
	}
}

func TestParentClasses(t *testing.T) {
	ss := []history.Series{
		series("egress", history.KindClass, "root", 10, time.Second, constant(3000)),
		series("egress", history.KindClass, "bulk", 10, time.Second, constant(2000)),
		series("egress", history.KindClass, "web", 10, time.Second, constant(1500)),
		series("egress", history.KindClass, "voip", 10, time.Second, constant(500)),
	}
	// bulk holds web and voip; root holds bulk.
	o := Options{By: ByClass, Direction: Both, Netns: "lab", Parents: map[string]bool{"bulk": true}}
	r := Build(ss, o, t0, t0.Add(10*time.Second), time.Second)
	if r.TotalBytes() != 20000 {
		t.Errorf("total %d, want the leaves' 20000", r.TotalBytes())
	}
	for _, row := range r.Rows {
		parent := row.Name == "root" || row.Name == "bulk"
		if row.Parent != parent {
			t.Errorf("%s: parent %v", row.Name, row.Parent)
		}
	}
	if r.Rows[0].Name != "root" || r.Rows[0].Share != 1.5 || r.Rows[2].Name != "web" || r.Rows[2].Share != 0.75 {
		t.Errorf("rows %+v", r.Rows)
	}
	names, _ := r.chartGroups()
	if strings.Join(names, ",") != "web,voip" {
		t.Errorf("chart groups %v: parents are drawn as their children", names)
	}
	// A TBF's root is the only class: it is what was sent.
	tbf := Build(ss[:1], Options{By: ByClass, Direction: Both, Netns: "lab"}, t0, t0.Add(10*time.Second), time.Second)
	if tbf.Rows[0].Parent || tbf.Rows[0].Share != 1 {
		t.Errorf("a lone root: %+v", tbf.Rows[0])
	}
}

func TestSetQuota(t *testing.T) {
	r := build(t, Up)
	if !r.SetQuota("mail", QuotaUse{Used: 1, Limit: 2, Resets: t0}) || r.SetQuota("nope", QuotaUse{}) {
		t.Fatal("SetQuota found the wrong rows")
	}
	if r.Rows[1].Quota == nil || r.Rows[1].Quota.Limit != 2 || r.Rows[0].Quota != nil {
		t.Errorf("rows %+v", r.Rows)
	}
}
