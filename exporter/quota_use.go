package exporter

import (
	"fmt"
	"time"

	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// UsageReader is where quota use comes from: the history store
// (*history.Store), so that use survives restarts of serve.
type UsageReader interface {
	Sum(from, to time.Time, match func(history.Key) bool) (map[history.Key]history.Totals, error)
}

// QuotaUse is one app's use of its quota in the current period.
type QuotaUse struct {
	App       string    `json:"app"`
	Direction string    `json:"direction"` // up, down or both: what counts
	Per       string    `json:"per"`       // day, week or month
	Used      uint64    `json:"used_bytes"`
	Limit     uint64    `json:"limit_bytes"`
	Since     time.Time `json:"since"`  // the period's start
	Resets    time.Time `json:"resets"` // the period's end
	Exhausted bool      `json:"exhausted"`
	Then      string    `json:"then"` // the class the app moves to once exhausted
}

// QuotaUses reads the use of every quota of pol in the period holding now
// (in now's location: periods follow local midnight): the app's bytes in
// the counted directions, summed over the policy's interfaces. netns is
// the namespace of interfaces whose entry names none. Quotas of the same
// period share one read of the store (a day's Sum over every series takes
// some 25 ms).
func QuotaUses(pol *policy.Policy, r UsageReader, netns string, now time.Time) ([]QuotaUse, error) {
	type where struct{ netns, iface string }
	ifaces := map[where]bool{}
	for _, it := range pol.Interfaces {
		ns := it.Netns
		if ns == "" {
			ns = netns
		}
		ifaces[where{ns, it.Name}] = true
	}
	type period struct{ from, to int64 } // Unix seconds: times with a location are poor map keys
	quotas := map[string]*policy.Quota{}
	byPeriod := map[period]map[history.Key]history.Totals{}
	var out []QuotaUse
	for _, a := range pol.Apps {
		if q := a.Quota; q != nil {
			quotas[a.Name] = q
			from, to := q.Period(now)
			byPeriod[period{from.Unix(), to.Unix()}] = nil
			dir := q.Direction
			if dir == "" {
				dir = policy.QuotaBoth
			}
			out = append(out, QuotaUse{App: a.Name, Direction: dir, Per: q.Per, Limit: q.Volume, Since: from, Resets: to, Then: q.Then})
		}
	}
	for p := range byPeriod {
		// To the period's end, not to now: a sample taken in now's second
		// is in the period, and nothing later exists yet.
		sums, err := r.Sum(time.Unix(p.from, 0), time.Unix(p.to, 0), func(k history.Key) bool {
			return k.Kind == history.KindApp && quotas[k.Name] != nil && ifaces[where{k.Netns, k.Iface}]
		})
		if err != nil {
			return nil, fmt.Errorf("quota use: %w", err)
		}
		byPeriod[p] = sums
	}
	for i := range out {
		u := &out[i]
		q := quotas[u.App]
		for k, t := range byPeriod[period{u.Since.Unix(), u.Resets.Unix()}] {
			if k.Name == u.App && q.Counts(k.Direction) {
				u.Used += t.Bytes
			}
		}
		u.Exhausted = u.Used >= u.Limit
	}
	return out, nil
}

// AppliedPolicy rebuilds what is applied in a namespace from shaper's state
// files ("*": every namespace): the apps (with their quotas) and the
// interfaces, each with its namespace filled in. Apps of the same name on
// several interfaces are one app.
func AppliedPolicy(netns string) (*policy.Policy, error) {
	states, err := shaper.ListStates(netns)
	if err != nil {
		return nil, err
	}
	pol := &policy.Policy{Version: policy.Version}
	seen := map[string]bool{}
	for _, st := range states {
		for _, a := range st.Apps {
			if !seen[a.Name] {
				seen[a.Name] = true
				pol.Apps = append(pol.Apps, a)
			}
		}
		it := st.Interface
		it.Netns = st.Netns
		pol.Interfaces = append(pol.Interfaces, it)
	}
	return pol, nil
}

// HasQuotas reports whether any app of pol has a quota.
func HasQuotas(pol *policy.Policy) bool {
	for _, a := range pol.Apps {
		if a.Quota != nil {
			return true
		}
	}
	return false
}
