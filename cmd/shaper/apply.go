package main

import (
	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

func init() { register(newApplyCmd, newValidateCmd, newDeleteCmd) }

func newApplyCmd() *cobra.Command {
	var o shaper.ApplyOptions
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Apply a policy: classifiers, maps and queues on every interface it names",
		Long: "apply validates the policy, plans the HTB/TBF tree of every interface, diffs it against the kernel and applies the difference, " +
			"then loads the classifier, writes its maps and attaches it. Re-applying the same file changes nothing; a failed apply rolls back.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			o.Source = args[0]
			o.Out = cmd.OutOrStdout()
			return shaper.Apply(pol, o)
		},
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan, the equivalent tc commands and the changes; touch nothing")
	cmd.Flags().StringVar(&o.Attach, "attach", "auto", "how to attach the classifier: auto (probe), tcx or tc (clsact)")
	cmd.Flags().IntVar(&o.FlowEntries, "flow-entries", 0,
		"entries of each interface's flow table (LRU: a full table evicts the least recent flow; 0: 65536)")
	netnsFlag(cmd, &o.Netns)
	return cmd
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file and report every error with its file:line:col",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			if err := shaper.Check(pol); err != nil {
				return err
			}
			for _, h := range policy.Hints(pol) {
				cmd.Printf("hint: %s\n", h)
			}
			cmd.Printf("%s: ok (%d apps, %d interfaces)\n", args[0], len(pol.Apps), len(pol.Interfaces))
			return nil
		},
	}
}

func newDeleteCmd() *cobra.Command {
	var o shaper.DeleteOptions
	cmd := &cobra.Command{
		Use:   "delete [IFACE...]",
		Short: "Remove shaper from interfaces and restore exactly what they had before",
		Long: "delete acts in one network namespace: the root one, or the one --netns names (also one that has vanished, " +
			"whose state and pins it then removes); --all-namespaces acts in every namespace. Without IFACE it removes " +
			"every interface shaper manages there; naming an interface shaper does not manage there is an error (exit 2).",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ifaces = args
			o.Out = cmd.OutOrStdout()
			return shaper.Delete(o)
		},
	}
	netnsFlag(cmd, &o.Netns)
	allNetnsFlag(cmd, &o.AllNetns)
	return cmd
}

func allNetnsFlag(cmd *cobra.Command, dst *bool) {
	cmd.Flags().BoolVarP(dst, "all-namespaces", "A", false, "act in every network namespace (instead of the root one or --netns)")
}

func netnsFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "netns", "", "act inside this named network namespace (as made by `ip netns add`)")
}
