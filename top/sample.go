// Package top is `shaper top`: a live view of apps, classes and flows from
// the kernel's own counters (the classifier's maps and HTB's class stats),
// refreshed every interval. Rates are the difference of two readings over
// the time between them. This file reads; frame.go turns two readings into
// rows; render.go draws them; model.go is the interactive program.
package top

import (
	"fmt"
	"time"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

// Options select what top shows.
type Options struct {
	Netns    string        // "" = the root namespace
	Ifaces   []string      // none: every managed interface there
	Interval time.Duration // between readings
	MaxFlows int           // flows listed at most (0: 10)
}

// Sample is one reading of every selected interface.
type Sample struct {
	At     time.Time
	Report *shaper.StatusReport
	Flows  map[string][]loader.Flow // by interface name
	// FlowsAt is when the flows were read (after the counters: reading
	// them takes a while, and flow rates must not pay for it).
	FlowsAt time.Time
}

// Read takes one sample.
func Read(o Options) (*Sample, error) {
	at := time.Now()
	rep, err := shaper.Status(shaper.StatusOptions{Netns: o.Netns, Ifaces: o.Ifaces})
	if err != nil {
		return nil, err
	}
	s := &Sample{At: at, Report: rep, Flows: map[string][]loader.Flow{}}
	t0 := time.Now()
	for _, ifc := range rep.Interfaces {
		fl, _, err := loader.ReadFlows(loader.SharedDir(ifc.Netns, ifc.Iface))
		if err != nil {
			return nil, fmt.Errorf("flows of %s: %w", ifc.Iface, err)
		}
		s.Flows[ifc.Iface] = fl
	}
	s.FlowsAt = t0.Add(time.Since(t0) / 2)
	return s, nil
}
