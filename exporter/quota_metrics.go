package exporter

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	quotaUsedDesc = prometheus.NewDesc("shaper_quota_used_bytes",
		"Bytes the app used in its quota's current period (the directions its quota counts, all interfaces).", []string{"app"}, nil)
	quotaLimitDesc = prometheus.NewDesc("shaper_quota_limit_bytes",
		"The app's quota volume per period.", []string{"app"}, nil)
	quotaExhaustedDesc = prometheus.NewDesc("shaper_quota_exhausted",
		"1 while the app's quota is used up (it is in its quota's then class when serve enforces quotas), else 0.", []string{"app"}, nil)
	quotaResetDesc = prometheus.NewDesc("shaper_quota_reset_timestamp_seconds",
		"When the app's current quota period ends (Unix time).", []string{"app"}, nil)
)

// Describe sends the quota metrics' descriptions.
func (q *Quotas) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{quotaUsedDesc, quotaLimitDesc, quotaExhaustedDesc, quotaResetDesc} {
		ch <- d
	}
}

// Collect sends the quota use as last read (every interval, not at the
// scrape: the history store is read on serve's own schedule).
func (q *Quotas) Collect(ch chan<- prometheus.Metric) {
	for _, u := range q.Status() {
		ex := 0.0
		if u.Exhausted {
			ex = 1
		}
		ch <- prometheus.MustNewConstMetric(quotaUsedDesc, prometheus.GaugeValue, float64(u.Used), u.App)
		ch <- prometheus.MustNewConstMetric(quotaLimitDesc, prometheus.GaugeValue, float64(u.Limit), u.App)
		ch <- prometheus.MustNewConstMetric(quotaExhaustedDesc, prometheus.GaugeValue, ex, u.App)
		ch <- prometheus.MustNewConstMetric(quotaResetDesc, prometheus.GaugeValue, float64(u.Resets.Unix()), u.App)
	}
}

// Observe is Watch for a serve without --policy: it cannot re-apply, so it
// reads the applied policy from shaper's state every interval, exports the
// use and says once per app and period that a spent quota is not enforced.
func (q *Quotas) Observe(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	warned := map[string]time.Time{} // app → the period end it was warned for
	for {
		pol, err := AppliedPolicy(q.Netns)
		if err != nil {
			q.Log.Error("read the applied policy for quotas", "err", err)
		} else if HasQuotas(pol) {
			for _, u := range q.read(pol) {
				if u.Exhausted && !warned[u.App].Equal(u.Resets) {
					warned[u.App] = u.Resets
					q.Log.Warn("quota reached but not enforced: serve runs without --policy, so it cannot move the app",
						"app", u.App, "used", u.Used, "volume", u.Limit, "then", u.Then, "until", u.Resets.Format(time.RFC3339))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
