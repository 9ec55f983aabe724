package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/top"
)

func init() { register(newTopCmd) }

func newTopCmd() *cobra.Command {
	var o top.Options
	cmd := &cobra.Command{
		Use:   "top [IFACE...]",
		Short: "Live view of apps, classes and flows with their rates up and down, from the kernel's counters",
		Long: "top shows the interfaces shaper manages in one network namespace (the root one, or --netns): classes with their " +
			"rate against the configured rate and ceil, apps up and down, and the busiest flows with the process that owns them " +
			"where known. Keys: r, b, n sort by rate, bytes, name; s cycles; q quits. Without a terminal it prints one " +
			"snapshot (rates over one --interval) and exits.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Interval < 100*time.Millisecond {
				return usageError{fmt.Errorf("--interval %s: give at least 100ms", o.Interval)}
			}
			o.Ifaces = args
			return top.Run(o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	netnsFlag(cmd, &o.Netns)
	cmd.Flags().DurationVar(&o.Interval, "interval", time.Second, "time between readings (the rates' interval)")
	cmd.Flags().IntVar(&o.MaxFlows, "flows", 10, "flows listed at most")
	return cmd
}
