package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/report"
)

func init() { register(newReportCmd) }

// reportFillers add to a report before it is written: quotas register one
// that sets each app's use against its budget (report.Report.SetQuota).
var reportFillers []func(rep *report.Report, stateDir, netns string) error

type reportFlags struct {
	opts         report.Options
	stateDir     string
	since, until string
	step         time.Duration
	output, out  string
	prometheus   string
}

func newReportCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report bytes, average and peak rate and share per app or class over an interval, as a table, CSV, JSON or a chart",
		Long: "report answers \"which app used my volume\" from the history `shaper serve --state-dir` keeps (or, with --prometheus, " +
			"from a Prometheus server that scrapes shaper): per app or class the bytes and packets of the interval, the average " +
			"and the peak rate, and the share of the total. -o svg|png draws a stacked area chart of the rates over time. " +
			"Without history it reports the totals since the policy was applied, from the kernel counters, and says so.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stateDir, "state-dir", DefaultStateDir, "the directory `shaper serve --state-dir` keeps history in")
	netnsFlag(cmd, &f.opts.Netns)
	fl.StringVar(&f.opts.Iface, "iface", "", "only this interface (default: every one)")
	fl.StringVar(&f.since, "since", "24h", "start: a span back from now (1h, 24h, 7d), a date (2026-12-01), a local time (2026-12-01 15:04) or RFC 3339")
	fl.StringVar(&f.until, "until", "now", "end, in the forms --since takes")
	fl.StringVar(&f.opts.By, "by", report.ByApp, "group by app, class or process (the process's comm; from the history only)")
	fl.StringVar(&f.opts.Direction, "direction", report.Both, "up (egress), down (ingress) or both")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table, csv, json, svg or png")
	fl.StringVar(&f.out, "out", "", "write to this file (default: standard output)")
	fl.StringVar(&f.prometheus, "prometheus", "", "report from this Prometheus server (http://host:9090) instead of the local history")
	fl.DurationVar(&f.step, "step", 0, "the rate's time step (default: the finest the history holds for the interval)")
	return cmd
}

func runReport(cmd *cobra.Command, f reportFlags) error {
	if err := f.check(cmd.OutOrStdout()); err != nil {
		return usageError{err}
	}
	from, to, err := report.Interval(f.since, f.until, time.Now())
	if err != nil {
		return usageError{err}
	}
	if f.opts.By == report.ByClass {
		f.opts.Parents = classParents(f.opts.Netns)
	}
	rep, err := f.build(from, to)
	if err != nil {
		return err
	}
	for _, fill := range reportFillers {
		if err := fill(rep, f.stateDir, f.opts.Netns); err != nil {
			return err
		}
	}
	if (f.output == "svg" || f.output == "png") && rep.Step == 0 {
		return usageError{fmt.Errorf("%s: %w", rep.Note, report.ErrNoSteps)}
	}
	return writeReport(cmd.OutOrStdout(), f.out, rep, f.output)
}

// check refuses flags that cannot work before anything is read.
func (f reportFlags) check(stdout io.Writer) error {
	if err := f.opts.Check(); err != nil {
		return err
	}
	if f.opts.By == report.ByProcess && f.prometheus != "" {
		return fmt.Errorf("--by process with --prometheus: shaper exports no per-process metrics; " +
			"per-process totals are in the history `shaper serve --state-dir` keeps")
	}
	if !slices.Contains(report.Formats, f.output) {
		return fmt.Errorf("unknown output %q: use -o %s", f.output, strings.Join(report.Formats, ", "))
	}
	if f.step < 0 || (f.step > 0 && f.step%time.Second != 0) {
		return fmt.Errorf("--step %v: use whole seconds (10s, 5m, 1h)", f.step)
	}
	if f.output == "png" && f.out == "" && isTerminal(stdout) {
		return fmt.Errorf("-o png is an image, not for a terminal: write it to a file with --out report.png")
	}
	return nil
}

// build reads the report from Prometheus, the history, or the kernel
// counters when there is no history.
func (f reportFlags) build(from, to time.Time) (*report.Report, error) {
	if f.prometheus != "" {
		return promReport(f.prometheus, f.opts, from, to, f.step)
	}
	rep, why, err := historyReport(f.stateDir, f.opts, from, to, f.step)
	if err != nil || rep != nil {
		return rep, err
	}
	if f.opts.By == report.ByProcess {
		// The kernel counts apps and classes, not processes.
		return nil, fmt.Errorf("%s: per-process totals need history: run shaper serve", why)
	}
	return kernelReport(why, f.opts)
}

func writeReport(stdout io.Writer, path string, rep *report.Report, format string) error {
	if path == "" {
		return report.Write(stdout, rep, format)
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := report.Write(file, rep, format); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
