package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/exporter"
	"github.com/shaperdev/shaper/internal/netns"
)

func init() { register(newServeCmd) }

type serveFlags struct {
	opts      exporter.Options
	policy    string
	attach    string
	poll      time.Duration
	logFormat string
	flowEvery time.Duration
	history   historyFlags
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve Prometheus metrics of the shaping state; with --policy, keep a policy applied",
		Long: fmt.Sprintf("serve reads the classifier's pinned maps and the tc statistics at every scrape and serves them on /metrics "+
			"(health on /healthz), on loopback port %d by default. With --policy it applies the file at start and re-applies it "+
			"on SIGHUP or when the file changes; a broken file is logged and the running policy stays. SIGTERM stops serving and "+
			"leaves the shaping in place: counters live in the kernel and continue across restarts.", exporter.DefaultPort),
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Listen, "listen", exporter.DefaultListen, "address to serve metrics on (host:port)")
	fl.BoolVar(&f.opts.AllowRemote, "allow-remote", false, "allow a --listen address that is not loopback")
	fl.StringVar(&f.opts.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration file: TLS and basic auth")
	fl.StringVar(&f.policy, "policy", "", "apply this policy file at start and keep it applied (SIGHUP or a change re-applies it)")
	fl.StringVar(&f.attach, "attach", "auto", "with --policy: how to attach the classifier: auto (probe), tcx or tc (clsact)")
	fl.DurationVar(&f.poll, "poll", 2*time.Second, "with --policy: how often to look for a change of the file")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.DurationVar(&f.flowEvery, "flow-count-interval", 5*time.Second, "how often to count the flow tables (a walk over every flow; scrapes serve the last count)")
	netnsFlag(cmd, &f.opts.Netns)
	f.history.register(fl)
	return cmd
}

func runServe(ctx context.Context, f serveFlags) error {
	log, err := newLogger(f.logFormat)
	if err != nil {
		return err
	}
	f.opts.Log, f.opts.Version = log, version
	if err := exporter.CheckListen(f.opts.Listen, f.opts.AllowRemote); err != nil {
		return err
	}
	if !f.history.off {
		if _, err := f.history.options(); err != nil {
			return err
		}
	}
	if f.opts.Netns != "" && !netns.Exists(f.opts.Netns) {
		return usageError{fmt.Errorf("network namespace %q does not exist: create it with `ip netns add %s` or fix the name (see `ip netns list`)",
			f.opts.Netns, f.opts.Netns)}
	}
	// SIGHUP is caught from the start: before the policy is first applied
	// a HUP must not kill the process (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The history is sampled with or without --policy: a policy applied
	// by `shaper apply` counts as well. It starts first: quotas read their
	// use from it before the policy is applied.
	var quotas *exporter.Quotas
	if !f.history.off {
		h, stop, err := startHistory(ctx, f.history, f.opts.Netns, log)
		if err != nil {
			return err
		}
		defer stop()
		f.opts.History = h
		quotas = &exporter.Quotas{Store: h.Store, Netns: f.opts.Netns, Log: log}
		f.opts.Extra = append(f.opts.Extra, quotas)
		f.opts.Quotas = func() any { return quotas.Status() }
	}
	if f.policy != "" {
		p := &exporter.Policy{Path: f.policy, Netns: f.opts.Netns, Attach: f.attach, Log: log, Quotas: quotas}
		if err := p.Apply(); err != nil {
			return err
		}
		log.Info("policy applied", "file", f.policy)
		f.opts.Health = p.Health
		go p.Watch(ctx, hup, f.poll)
		if quotas != nil {
			go quotas.Watch(ctx, f.history.interval, p.Reapply)
		}
	} else if quotas != nil {
		go quotas.Observe(ctx, f.history.interval) // reads and exports; cannot re-apply
	}
	// The flow table's size is counted in the background: its walk grows
	// with the flows, and a scrape should not.
	flows := exporter.NewCached(ctx, exporter.FlowSource{Netns: f.opts.Netns}, f.flowEvery)
	err = exporter.Serve(ctx, f.opts, exporter.StatusSource{Netns: f.opts.Netns}, flows)
	if err == nil {
		log.Info("stopped; shaping stays in place")
	}
	return err
}

func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, usageError{fmt.Errorf("unknown --log-format %q: use text or json", format)}
}
