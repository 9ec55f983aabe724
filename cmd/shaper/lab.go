package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/shaperdev/shaper/netlab"
	"github.com/spf13/cobra"
)

func init() { register(newLabCmd) }

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build namespace, switch and router labs from a topology file",
		Long:  "shaper lab builds network labs from a YAML topology (docs/lab.md): hosts are network namespaces, switches Linux bridges, routers namespaces with forwarding on, optionally running OSPF with FRR. Everything a lab creates carries its name.",
	}
	cmd.AddCommand(newLabUpCmd(), newLabDownCmd(), newLabStatusCmd(), newLabExecCmd(), newLabGraphCmd())
	return cmd
}

func newLabUpCmd() *cobra.Command {
	var name string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "up FILE",
		Short: "Bring a lab up (again: repairs what is missing)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topo, err := netlab.Load(args[0])
			if err != nil {
				return err
			}
			opts := []netlab.Option{netlab.WithName(name)}
			if !quiet {
				opts = append(opts, netlab.WithProgress(cmd.ErrOrStderr()))
			}
			lab, err := netlab.Up(cmd.Context(), topo, opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up: shaper lab status %s\n", lab.Name(), lab.Name())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "lab name (default: the file's name:)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print progress")
	return cmd
}

func newLabDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down FILE|NAME",
		Short: "Remove everything of a lab, and nothing else",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			if err := netlab.DownByName(name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is down\n", name)
			return nil
		},
	}
}

func newLabStatusCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show a lab's nodes, interfaces, addresses, routes and OSPF neighbours (all labs without NAME)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("-o %s: use table or json", format)}
			}
			names := args
			if len(names) == 0 {
				var err error
				if names, err = netlab.Labs(); err != nil {
					return err
				}
			} else {
				name, err := labName(args[0])
				if err != nil {
					return err
				}
				names = []string{name}
			}
			var reports []*netlab.StatusReport
			for _, n := range names {
				rep, err := netlab.Status(n)
				if err != nil {
					return err
				}
				reports = append(reports, rep)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if len(args) == 1 {
					return enc.Encode(reports[0])
				}
				return enc.Encode(reports)
			}
			if len(reports) == 0 {
				fmt.Fprintln(out, "no lab is up")
			}
			for i, rep := range reports {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := rep.WriteTable(out); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "table or json")
	return cmd
}

func newLabExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec NAME NODE -- CMD...",
		Short: "Run a command inside a node of a lab",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := netlab.Open(args[0])
			if err != nil {
				return err
			}
			if lab.Topology().Node(args[1]) == nil {
				return usageError{fmt.Errorf("lab %s has no node %q", args[0], args[1])}
			}
			c := lab.Command(cmd.Context(), args[1], args[2:]...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Exit(exit.ExitCode()) // the command's own exit code
			}
			return err
		},
	}
}

func newLabGraphCmd() *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "graph NAME|FILE",
		Short: "Draw a lab's topology: Graphviz DOT, or SVG/PNG through dot",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topo, err := labTopology(args[0])
			if err != nil {
				return err
			}
			out, err := netlab.Render(cmd.Context(), topo, format)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			return os.WriteFile(output, out, 0o644)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "T", "dot", "dot, svg or png")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file (default: standard output)")
	return cmd
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// labName takes a lab name, or a topology file whose lab it is.
func labName(arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		topo, err := netlab.Load(arg)
		if err != nil {
			return "", err
		}
		return topo.Name, nil
	}
	return arg, nil
}

// labTopology reads a topology file, or the record of a lab that is up.
func labTopology(arg string) (*netlab.Topology, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return netlab.Load(arg)
	}
	lab, err := netlab.Open(arg)
	if err != nil {
		return nil, err
	}
	return lab.Topology(), nil
}
