package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/shaperdev/shaper/exporter"
	"github.com/shaperdev/shaper/history"
	"github.com/shaperdev/shaper/policy"
)

// historyFlags are serve's knobs of the counter history.
type historyFlags struct {
	stateDir     string
	interval     time.Duration
	rawRetention string
	retention    string
	maxSize      string
	off          bool
}

// DefaultStateDir holds shaper's state; the history is under it.
const DefaultStateDir = "/var/lib/shaper"

func (h *historyFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&h.stateDir, "state-dir", DefaultStateDir, "directory of shaper's state; the counter history is kept in its history/ subdirectory")
	fl.DurationVar(&h.interval, "interval", history.DefaultInterval, "how often to sample the app, class and process counters into the history (whole seconds)")
	fl.StringVar(&h.rawRetention, "history-raw-retention", "48h", "keep every sample this long (then 5 min and 1 h roll-ups); e.g. 48h, 3d")
	fl.StringVar(&h.retention, "history-retention", "400d", "keep the hourly roll-ups this long; e.g. 400d, 9600h")
	fl.StringVar(&h.maxSize, "history-max-size", "1GiB", "the history's size on disk at most; the oldest files go first (kB MB GB or KiB MiB GiB)")
	fl.BoolVar(&h.off, "no-history", false, "keep no counter history (report then answers from the kernel counters only)")
}

// options checks the flags and turns them into store options.
func (h *historyFlags) options() (history.Options, error) {
	o := history.Options{Interval: h.interval}
	if h.interval < time.Second || h.interval%time.Second != 0 {
		return o, usageError{fmt.Errorf("--interval %v: give whole seconds, at least 1s (e.g. 10s)", h.interval)}
	}
	var err error
	if o.RawRetention, err = history.ParseDuration(h.rawRetention); err != nil {
		return o, usageError{fmt.Errorf("--history-raw-retention: %w", err)}
	}
	if o.Retention, err = history.ParseDuration(h.retention); err != nil {
		return o, usageError{fmt.Errorf("--history-retention: %w", err)}
	}
	// The same units as a quota's volume: one parser for byte counts.
	size, err := policy.ParseVolume(h.maxSize)
	if err != nil || size > math.MaxInt64 {
		return o, usageError{fmt.Errorf("--history-max-size %q: give e.g. 1GiB or 500MB (%v)", h.maxSize, err)}
	}
	o.MaxSize = int64(size)
	if o.RawRetention <= 0 || o.Retention <= 0 || o.MaxSize <= 0 {
		return o, usageError{fmt.Errorf("history retentions and size must be above zero: use --no-history to keep none")}
	}
	return o, nil
}

// startHistory opens the store and samples netns into it in the
// background; stop ends the sampling and closes the store.
func startHistory(ctx context.Context, h historyFlags, netns string, log *slog.Logger) (s *exporter.Sampler, stop func(), err error) {
	o, err := h.options()
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(h.stateDir, "history")
	st, err := history.Open(dir, o)
	if err != nil {
		return nil, nil, fmt.Errorf("open the history: %w (give --state-dir a writable directory, or --no-history)", err)
	}
	s = exporter.NewSampler(st, exporter.StatusSource{Netns: netns}, o.Interval, log)
	s.Flows = func() ([]exporter.FlowTable, error) { return exporter.ReadFlowTables(netns) }
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	log.Info("recording history", "dir", dir, "interval", o.Interval)
	return s, func() {
		cancel()
		<-done
		if err := st.Close(); err != nil {
			log.Warn("history: close", "err", err)
		}
	}, nil
}
