package top

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

func fixture(at time.Time, web, mail, flowUp uint64) *Sample {
	ifc := shaper.IfaceStatus{Iface: "eth0",
		Egress: shaper.DirStatus{Mode: "htb",
			Classes: []shaper.ClassStatus{
				{Name: "", ID: "1:1", RateBits: 100e6},
				{Name: "web", ID: "1:10", RateBits: 50e6, CeilBits: 100e6, Stats: shaper.Stats{Bytes: web}},
			},
			Apps: []shaper.AppStatus{{Name: "web", ID: 1, Bytes: web, Class: "web"}, {Name: "mail", ID: 2, Bytes: mail, Class: "other"}}},
		Ingress: &shaper.DirStatus{Mode: "monitor", Apps: []shaper.AppStatus{{Name: "web", ID: 1, Bytes: 2 * web}}},
		Flows:   &loader.FlowTable{Entries: 1, Capacity: 65536},
	}
	fl := loader.Flow{Proto: 6, Src: netip.MustParseAddr("198.18.0.1"), SPort: 40000, Dst: netip.MustParseAddr("198.18.0.2"),
		DPort: 443, Seen: [2]bool{true, true}, App: [2]uint32{1, 1}, Bytes: [2]uint64{flowUp, 0}, Comm: "curl", PID: 42}
	return &Sample{At: at, FlowsAt: at, Report: &shaper.StatusReport{Interfaces: []shaper.IfaceStatus{ifc}},
		Flows: map[string][]loader.Flow{"eth0": {fl}}}
}

// Rates are byte differences over the time between readings, per
// direction; the link class is left out; apps merge up and down.
func TestBuild(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := fixture(t0, 1_000_000, 0, 500_000)
	b := fixture(t0.Add(2*time.Second), 3_500_000, 0, 1_000_000)
	f := Build(a, b)
	f.Sort(ByRate)
	if len(f.Classes) != 1 || f.Classes[0].Name != "web" || f.Classes[0].Rate[Up] != 10e6 {
		t.Errorf("classes %+v, want web at 10mbit", f.Classes)
	}
	if len(f.Apps) != 2 || f.Apps[0].Name != "web" || f.Apps[0].Rate != [2]float64{10e6, 20e6} || f.Apps[0].Class != "web" {
		t.Errorf("apps %+v, want web first at 10mbit up, 20mbit down", f.Apps)
	}
	if len(f.Flows) != 1 || f.Flows[0].Rate[Up] != 2e6 || f.Flows[0].Process != "curl (42)" || f.Flows[0].App != "web" ||
		f.Flows[0].Remote != "198.18.0.2:443" {
		t.Errorf("flows %+v", f.Flows)
	}
	out := Render(f, ByRate, 10, 0, Style{})
	for _, want := range []string{"rates over 2s", "web    eth0   1:10  10.00mbit  50.00mbit  100.00mbit  20%", "curl (42)", "eth0 flows: 1 of 65536"} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	f.Sort(ByName)
	if f.Apps[0].Name != "mail" {
		t.Errorf("by name: %v first", f.Apps[0].Name)
	}
	if first := Build(nil, a); first.Over != 0 || first.Apps[0].Rate != [2]float64{} {
		t.Errorf("a first reading has rates: %+v", first.Apps)
	}
}
