package exporter

import (
	"context"
	"sync"
	"time"
)

// Cached reads a source in the background every interval and serves its
// latest reading. It is for readers whose cost grows with traffic (a flow
// table's count is a walk over every flow, batched or not): a scrape then
// costs the same at ten flows or a hundred thousand, and the gauge is at
// most one interval old. Counters stay read at scrape time.
type Cached struct {
	src   Source
	mu    sync.Mutex
	r     *Reading
	err   error
	ready chan struct{}
}

// NewCached starts reading src every interval until ctx ends.
func NewCached(ctx context.Context, src Source, every time.Duration) *Cached {
	c := &Cached{src: src, ready: make(chan struct{})}
	go c.loop(ctx, every)
	return c
}

func (c *Cached) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for first := true; ; first = false {
		r, err := c.src.Read()
		c.mu.Lock()
		c.r, c.err = r, err
		c.mu.Unlock()
		if first {
			close(c.ready)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Read returns the latest reading, waiting for the first one.
func (c *Cached) Read() (*Reading, error) {
	<-c.ready
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r, c.err
}
