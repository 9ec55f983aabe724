package report

import (
	"strings"
	"testing"
	"time"
)

func TestPromQueries(t *testing.T) {
	b, p := PromQueries(Options{By: ByApp, Direction: Up, Netns: "lab", Iface: "eth0"}, time.Minute)
	if b != `increase(shaper_app_bytes_total{netns="lab",iface="eth0",direction="egress"}[60s])` ||
		p != `increase(shaper_app_packets_total{netns="lab",iface="eth0",direction="egress"}[60s])` {
		t.Errorf("queries %s, %s", b, p)
	}
	b, _ = PromQueries(Options{By: ByClass, Direction: Both}, 5*time.Minute)
	if b != `increase(shaper_class_bytes_total{netns=""}[300s])` {
		t.Errorf("class query %s", b)
	}
	if s := PromStep(t0, t0.Add(24*time.Hour)); s != 5*time.Minute {
		t.Errorf("a day's step %v", s)
	}
}

const promBytes = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"netns":"lab","iface":"eth0","direction":"egress","app":"web"},"values":[[1764583260,"6000000"],[1764583320,"12000000.4"]]},
 {"metric":{"netns":"lab","iface":"eth0","direction":"ingress","app":"web"},"values":[[1764583260,"600"]]}]}}`

const promPackets = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"netns":"lab","iface":"eth0","direction":"egress","app":"web"},"values":[[1764583260,"4000"],[1764583320,"NaN"]]}]}}`

func TestPromSeries(t *testing.T) {
	ss, err := PromSeries(strings.NewReader(promBytes), strings.NewReader(promPackets), ByApp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Direction != "egress" || ss[0].Name != "web" || len(ss[0].Points) != 2 {
		t.Fatalf("series %+v", ss)
	}
	p := ss[0].Points
	if !p[0].T.Equal(time.Unix(1764583200, 0)) || p[0].Bytes != 6e6 || p[0].Packets != 4000 || p[1].Bytes != 12e6 || p[1].Packets != 0 {
		t.Errorf("points %+v", p)
	}
	from := time.Unix(1764583200, 0)
	r := Build(ss, Options{By: ByApp, Direction: Both, Netns: "lab"}, from, from.Add(2*time.Minute), time.Minute)
	if r.Rows[0].Bytes != 18_000_600 || *r.Rows[0].PeakBits != 1_600_000 {
		t.Errorf("report %+v", r.Rows[0])
	}
	_, err = PromSeries(strings.NewReader(`{"status":"error","error":"parse error"}`), strings.NewReader(promPackets), ByApp, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("error answer: %v", err)
	}
}
