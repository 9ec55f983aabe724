package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/shaperdev/shaper/exporter"
	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/policy"
)

// statusQuotas is the quota part of `shaper status`: each quota app's use
// against its budget in the current period, from the history serve keeps.
type statusQuotas struct {
	Quotas []exporter.QuotaUse `json:"quotas,omitempty"`
	// Unknown says why use could not be read ("" when it was).
	Unknown string `json:"quota_use_unknown,omitempty"`
}

// readQuotas reads the applied policy's quotas (from shaper's state, of
// netns or with all of every namespace) and their use (from the history
// store in stateDir). No quota: nil.
func readQuotas(netns string, all bool, stateDir string) *statusQuotas {
	scope := netns
	if all {
		scope = "*"
	}
	pol, err := exporter.AppliedPolicy(scope)
	if err != nil || !exporter.HasQuotas(pol) {
		return nil
	}
	sq := &statusQuotas{}
	uses, err := quotaUses(pol, netns, stateDir)
	if err != nil {
		sq.Unknown = err.Error()
		for _, a := range pol.Apps { // the budgets are known all the same
			if q := a.Quota; q != nil {
				from, to := q.Period(time.Now())
				sq.Quotas = append(sq.Quotas, exporter.QuotaUse{App: a.Name, Direction: q.Direction, Per: q.Per,
					Limit: q.Volume, Since: from, Resets: to, Then: q.Then})
			}
		}
		return sq
	}
	sq.Quotas = uses
	return sq
}

func quotaUses(pol *policy.Policy, netns, stateDir string) ([]exporter.QuotaUse, error) {
	dir := filepath.Join(stateDir, "history")
	st, err := history.OpenReadOnly(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no history in %s: shaper serve keeps it (with --state-dir %s)", dir, stateDir)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return exporter.QuotaUses(pol, st, netns, time.Now())
}

// writeTable prints one line per quota app.
func (sq *statusQuotas) writeTable(w io.Writer) {
	fmt.Fprintln(w, "\nquotas:")
	if sq.Unknown != "" {
		fmt.Fprintf(w, "  quota use unknown: %s\n", sq.Unknown)
	}
	for _, u := range sq.Quotas {
		use := "?"
		if sq.Unknown == "" {
			use = fmt.Sprintf("%s (%.0f%%)", formatBytes(u.Used), 100*float64(u.Used)/float64(u.Limit))
		}
		state := fmt.Sprintf("then %s", u.Then)
		if u.Exhausted {
			state = fmt.Sprintf("USED UP: in class %s", u.Then)
		}
		fmt.Fprintf(w, "  %-16s %s of %s per %s (%s), resets %s; %s\n", u.App, use, formatBytes(u.Limit), u.Per, u.Direction,
			u.Resets.Local().Format("2006-01-02 15:04 MST"), state)
	}
}

// formatBytes prints a volume in the decimal units quotas are written in.
func formatBytes(b uint64) string {
	const unit = 1000
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	v, u := float64(b)/unit, 0
	for v >= unit && u < 3 {
		v, u = v/unit, u+1
	}
	return fmt.Sprintf("%.1f %s", v, []string{"kB", "MB", "GB", "TB"}[u])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
