package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/shaper"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var (
		netns  string
		all    bool
		output string
		sample time.Duration
		dir    string
	)
	cmd := &cobra.Command{
		Use:   "status [IFACE...]",
		Short: "Show classes, apps, counters, hook programs and drift from the applied policy",
		Long: "status shows the interfaces shaper manages in one network namespace (the root one, or --netns), " +
			"or in all with --all-namespaces; an interface whose namespace has vanished is shown with its counters and as drift.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError{fmt.Errorf("unknown output %q: use -o table or -o json", output)}
			}
			rep, err := shaper.Status(shaper.StatusOptions{Netns: netns, AllNetns: all, Ifaces: args, Sample: sample})
			if err != nil {
				return err
			}
			quotas := readQuotas(netns, all, dir)
			if output == "json" {
				if quotas != nil {
					return writeJSON(cmd.OutOrStdout(), struct {
						*shaper.StatusReport
						*statusQuotas
					}{rep, quotas})
				}
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			if quotas != nil {
				quotas.writeTable(cmd.OutOrStdout())
			}
			return nil
		},
	}
	netnsFlag(cmd, &netns)
	allNetnsFlag(cmd, &all)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringVar(&dir, "state-dir", DefaultStateDir, "where shaper serve keeps history (quota use is read from it)")
	cmd.Flags().DurationVar(&sample, "sample", 500*time.Millisecond, "measure live rates over this interval (0 to skip)")
	return cmd
}
