package exporter

import (
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names are the ones docs and the dashboard use (DESIGN.md,
// "Metrics"): change them only with deploy/.
var (
	hookLabels  = []string{"netns", "iface", "direction"}
	classLabels = append(hookLabels[:3:3], "class")
	appLabels   = append(hookLabels[:3:3], "app")
	mapLabels   = append(hookLabels[:3:3], "map")

	classBytes      = desc("class_bytes_total", "Bytes a class sent (tc), 64-bit.", classLabels)
	classPackets    = desc("class_packets_total", "Packets a class sent (tc), 64-bit.", classLabels)
	classDrops      = desc("class_drops_total", "Packets a class dropped (tc).", classLabels)
	classOverlimits = desc("class_overlimits_total", "Times a class was over its rate (tc).", classLabels)
	classBacklog    = desc("class_backlog_bytes", "Bytes queued in a class now.", classLabels)
	classQlen       = desc("class_queue_packets", "Packets queued in a class now.", classLabels)
	classRate       = desc("class_rate_bytes", "Configured rate of a class, bytes per second (promtool wants base units: multiply by 8 for bits).", classLabels)
	classCeil       = desc("class_ceil_bytes", "Configured ceil of a class, bytes per second.", classLabels)
	appBytes        = desc("app_bytes_total", "Bytes the classifier counted for an app (wire length).", appLabels)
	appPackets      = desc("app_packets_total", "Packets the classifier counted for an app (GSO segments).", appLabels)
	mapEntries      = desc("map_entries", "Entries in use in a BPF map.", mapLabels)
	mapCapacity     = desc("map_capacity_entries", "Maximum entries of a BPF map.", mapLabels)
	flowsActive     = desc("flows_active", "Flows in an interface's flow table.", []string{"netns", "iface"})
	flowMisses      = desc("flow_misses_total", "Packets that found no entry in the flow table (new flows and evicted ones).", []string{"netns", "iface"})
	flowEvictions   = desc("flow_evictions_total", "Misses of TCP packets without SYN: established flows whose entry the table evicted.", []string{"netns", "iface"})
	buildInfo       = desc("build_info", "Build of shaper serving these metrics; always 1.", []string{"version", "goversion"})
	scrapeOK        = desc("scrape_success", "1 when every reader succeeded in this scrape, 0 when one failed (see the log).", nil)
	scrapeTime      = desc("scrape_duration_seconds", "Time this scrape took to read the kernel.", nil)
)

// metricNames are the names of every metric the collector emits.
var metricNames []string

func desc(name, help string, labels []string) *prometheus.Desc {
	metricNames = append(metricNames, "shaper_"+name)
	return prometheus.NewDesc("shaper_"+name, help, labels, nil)
}

// MetricNames lists every metric name the collector may emit: what the
// dashboard and the rules in deploy/ may use.
func MetricNames() []string { return append([]string(nil), metricNames...) }

// Collector emits the readings of its sources as const metrics at every
// scrape: nothing is cached, so a restarted exporter reports exactly the
// kernel's counters (pinned maps and tc stats survive it).
type Collector struct {
	sources []Source
	version string
	log     *slog.Logger
}

// NewCollector returns a collector over sources; version labels build_info.
func NewCollector(version string, log *slog.Logger, sources ...Source) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{sources: sources, version: version, log: log}
}

// Describe sends every descriptor the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{classBytes, classPackets, classDrops, classOverlimits, classBacklog,
		classQlen, classRate, classCeil, appBytes, appPackets, mapEntries, mapCapacity, flowsActive, flowMisses, flowEvictions,
		buildInfo, scrapeOK, scrapeTime} {
		ch <- d
	}
}

// Collect reads every source and emits what they returned. A failing source
// is logged and makes scrape_success 0; the others' metrics are still sent.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	t0 := time.Now()
	// Sources read at once: a large flow table's count and the tc dump
	// overlap instead of adding up.
	readings := make([]*Reading, len(c.sources))
	errs := make([]error, len(c.sources))
	var wg sync.WaitGroup
	for i, s := range c.sources {
		wg.Go(func() { readings[i], errs[i] = s.Read() })
	}
	wg.Wait()
	var all Reading
	ok := 1.0
	for i := range c.sources {
		if errs[i] != nil {
			c.log.Error("read shaping state", "err", errs[i])
			ok = 0
		}
		all.merge(readings[i])
	}
	emit(ch, &all)
	ch <- prometheus.MustNewConstMetric(buildInfo, prometheus.GaugeValue, 1, c.version, runtime.Version())
	ch <- prometheus.MustNewConstMetric(scrapeOK, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(scrapeTime, prometheus.GaugeValue, time.Since(t0).Seconds())
}

// emit sends one reading. Counters are CounterValue (Prometheus computes
// rates); queues and configured rates are gauges.
func emit(ch chan<- prometheus.Metric, r *Reading) {
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
	}
	for _, s := range r.Classes {
		l := []string{s.Netns, s.Iface, s.Direction, s.Class}
		counter(classBytes, s.Bytes, l...)
		counter(classPackets, s.Packets, l...)
		counter(classDrops, s.Drops, l...)
		counter(classOverlimits, s.Overlimits, l...)
		gauge(classBacklog, s.Backlog, l...)
		gauge(classQlen, s.Qlen, l...)
		gauge(classRate, s.RateBytes, l...)
		if s.CeilBytes > 0 {
			gauge(classCeil, s.CeilBytes, l...)
		}
	}
	for _, s := range r.Apps {
		l := []string{s.Netns, s.Iface, s.Direction, s.App}
		counter(appBytes, s.Bytes, l...)
		counter(appPackets, s.Packets, l...)
	}
	for _, s := range r.Maps {
		l := []string{s.Netns, s.Iface, s.Direction, s.Map}
		gauge(mapEntries, s.Entries, l...)
		gauge(mapCapacity, s.Capacity, l...)
	}
	for _, s := range r.Flows {
		gauge(flowsActive, s.Active, s.Netns, s.Iface)
		counter(flowMisses, s.Misses, s.Netns, s.Iface)
		counter(flowEvictions, s.Evictions, s.Netns, s.Iface)
	}
}
