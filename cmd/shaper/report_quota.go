package main

import (
	"github.com/shaperdev/shaper/report"
)

// The report shows each quota app's use against its budget in the current
// period, as `shaper status` does: from the applied policy and serve's
// history. A report without quotas, or without history, shows none.
func init() { reportFillers = append(reportFillers, fillQuotas) }

func fillQuotas(rep *report.Report, stateDir, netns string) error {
	sq := readQuotas(netns, false, stateDir)
	if sq == nil || sq.Unknown != "" {
		return nil
	}
	for _, u := range sq.Quotas {
		rep.SetQuota(u.App, report.QuotaUse{Used: u.Used, Limit: u.Limit, Resets: u.Resets})
	}
	return nil
}
