package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shaperdev/shaper/history"
)

// Prometheus metric names the exporter serves (exporter/collector.go).
var promMetrics = map[string][2]string{
	ByApp:   {"shaper_app_bytes_total", "shaper_app_packets_total"},
	ByClass: {"shaper_class_bytes_total", "shaper_class_packets_total"},
}

// PromQueries are the PromQL range queries of a report: what each group's
// bytes and packets increased by in each step (the window is the step, so
// steps neither overlap nor leave gaps). Prometheus handles counter resets.
func PromQueries(o Options, step time.Duration) (bytes, packets string) {
	sel := []string{fmt.Sprintf("netns=%q", o.Netns)}
	if o.Iface != "" {
		sel = append(sel, fmt.Sprintf("iface=%q", o.Iface))
	}
	switch o.Direction {
	case Up:
		sel = append(sel, `direction="egress"`)
	case Down:
		sel = append(sel, `direction="ingress"`)
	}
	q := func(metric string) string {
		return fmt.Sprintf("increase(%s{%s}[%ds])", metric, strings.Join(sel, ","), int(step.Seconds()))
	}
	m := promMetrics[o.By]
	return q(m[0]), q(m[1])
}

// PromStep is the step of a Prometheus report when none is asked: about
// 300 steps over the interval, and at least a minute, so that each window
// holds several scrapes.
func PromStep(from, to time.Time) time.Duration {
	step := to.Sub(from) / 300
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 24 * time.Hour} {
		if step <= s {
			return s
		}
	}
	return 24 * time.Hour
}

// promResponse is the part of /api/v1/query_range's answer a report reads.
type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// PromSeries reads the answers to the bytes and packets queries of kind
// (ByApp or ByClass) into series. A value at time t is the increase over
// the step before it, so its point starts at t-step.
func PromSeries(bytesBody, packetsBody io.Reader, kind string, step time.Duration) ([]history.Series, error) {
	byKey := map[history.Key]map[int64]*history.Point{}
	for i, body := range []io.Reader{bytesBody, packetsBody} {
		var resp promResponse
		if err := json.NewDecoder(body).Decode(&resp); err != nil {
			return nil, fmt.Errorf("read prometheus answer: %w", err)
		}
		if resp.Status != "success" {
			return nil, fmt.Errorf("prometheus: %s", resp.Error)
		}
		if resp.Data.ResultType != "matrix" {
			return nil, fmt.Errorf("prometheus answered a %s, not a range (matrix)", resp.Data.ResultType)
		}
		for _, res := range resp.Data.Result {
			k := history.Key{Netns: res.Metric["netns"], Iface: res.Metric["iface"], Direction: res.Metric["direction"],
				Kind: kind, Name: res.Metric[kind]}
			if byKey[k] == nil {
				byKey[k] = map[int64]*history.Point{}
			}
			if err := addValues(byKey[k], res.Values, step, i == 0); err != nil {
				return nil, fmt.Errorf("prometheus series %v: %w", res.Metric, err)
			}
		}
	}
	return toSeries(byKey), nil
}

func addValues(points map[int64]*history.Point, values [][2]any, step time.Duration, isBytes bool) error {
	for _, v := range values {
		ts, ok := v[0].(float64)
		str, ok2 := v[1].(string)
		if !ok || !ok2 {
			return fmt.Errorf("value %v is not [time, \"number\"]", v)
		}
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return fmt.Errorf("value %q: %w", str, err)
		}
		if math.IsNaN(f) || f < 0 {
			continue
		}
		t := time.Unix(0, int64(ts*1e9)).Add(-step)
		p := points[t.UnixNano()]
		if p == nil {
			p = &history.Point{T: t}
			points[t.UnixNano()] = p
		}
		if isBytes {
			p.Bytes = uint64(math.Round(f))
		} else {
			p.Packets = uint64(math.Round(f))
		}
	}
	return nil
}

func toSeries(byKey map[history.Key]map[int64]*history.Point) []history.Series {
	var out []history.Series
	for k, pts := range byKey {
		s := history.Series{Key: k}
		for _, p := range pts {
			s.Points = append(s.Points, *p)
		}
		sort.Slice(s.Points, func(i, j int) bool { return s.Points[i].T.Before(s.Points[j].T) })
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].Key) < fmt.Sprint(out[j].Key) })
	return out
}
