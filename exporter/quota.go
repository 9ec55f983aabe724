package exporter

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/shaperdev/shaper/policy"
)

// Quotas enforces the apps' volume quotas in serve. Every interval it reads
// each quota's use in the current period from history; when an app has used
// its volume, the policy is re-applied with the app moved to its quota's
// then class (shaper.Apply's fast path: a map update, no packet lost) until
// the period ends. The override lives here, not in the file, so a reload
// of the file (SIGHUP, a change) keeps it: Policy asks Plan for the policy
// to apply every time.
type Quotas struct {
	Store UsageReader
	Netns string // serve's --netns: the namespace of interfaces whose entry names none
	Log   *slog.Logger
	Now   func() time.Time // time.Now when nil; its location decides where midnight is

	mu    sync.Mutex
	base  *policy.Policy  // the policy as written, last applied
	uses  []QuotaUse      // as last read
	spent map[string]bool // apps moved to their then class in the kernel now
}

func (q *Quotas) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// read reads the use of base's quotas; on a failure it logs and keeps the
// last reading, so a store hiccup neither lifts nor imposes an override.
func (q *Quotas) read(base *policy.Policy) []QuotaUse {
	uses, err := QuotaUses(base, q.Store, q.Netns, q.now())
	if err != nil {
		q.Log.Error("read quota use; the quotas stay as they are", "err", err)
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.uses
	}
	q.mu.Lock()
	q.uses = uses
	q.mu.Unlock()
	return uses
}

func exhausted(uses []QuotaUse) map[string]bool {
	out := map[string]bool{}
	for _, u := range uses {
		if u.Exhausted {
			out[u.App] = true
		}
	}
	return out
}

// Plan returns the policy to apply for pol, the policy as written: pol with
// the apps whose quota is used up moved to their then classes. Call Applied
// once it is applied.
func (q *Quotas) Plan(pol *policy.Policy) (*policy.Policy, map[string]bool) {
	spent := exhausted(q.read(pol))
	return pol.WithQuotasSpent(spent), spent
}

// Applied records that pol (as written) was applied with spent moved, and
// logs every app that moved.
func (q *Quotas) Applied(pol *policy.Policy, spent map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.base = pol
	for _, u := range q.uses {
		switch {
		case spent[u.App] && !q.spent[u.App]:
			q.Log.Warn("quota reached", "app", u.App, "used", u.Used, "volume", u.Limit, "then", u.Then,
				"until", u.Resets.Format(time.RFC3339), "direction", u.Direction)
		case !spent[u.App] && q.spent[u.App]:
			q.Log.Info("quota period ended; the app is back in its class", "app", u.App, "used", u.Used, "volume", u.Limit,
				"since", u.Since.Format(time.RFC3339))
		}
	}
	q.spent = maps.Clone(spent)
}

// Watch reads the use of the applied policy's quotas four times an
// interval (at least every 250 ms) until ctx ends; when an app's quota runs
// out or its period ends, it calls reapply (Policy.Reapply), which applies
// the policy through Plan. Reading more often than the history samples
// keeps the switch within about an interval of the sample that crossed the
// volume; a read is one Sum per period (tens of ms on a full store).
func (q *Quotas) Watch(ctx context.Context, interval time.Duration, reapply func(why string) error) {
	t := time.NewTicker(max(interval/4, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !q.changed() {
			continue
		}
		if err := reapply("quota"); err != nil {
			q.Log.Error("quota change not applied; trying again", "err", err)
		}
	}
}

// changed reads the use and reports whether the set of spent apps differs
// from what the kernel has.
func (q *Quotas) changed() bool {
	q.mu.Lock()
	base, spent := q.base, q.spent
	q.mu.Unlock()
	if base == nil {
		return false
	}
	return !maps.Equal(exhausted(q.read(base)), spent)
}

// Status returns the quota use as last read, in policy order.
func (q *Quotas) Status() []QuotaUse {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]QuotaUse(nil), q.uses...)
}
