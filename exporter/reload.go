package exporter

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper"
)

// Policy keeps a policy file applied: at start, on SIGHUP and when the
// file's content changes. Re-applying goes through shaper.Apply, whose fast
// path changes only maps when only rules or apps changed (no qdisc rebuilt,
// no packet lost). A file that does not load or apply is logged, with the
// positions of its errors, and the running policy stays.
type Policy struct {
	Path   string
	Netns  string
	Attach string
	Log    *slog.Logger

	mu      sync.Mutex
	applied [32]byte // content hash of the file last applied
	lastErr string   // why the last reload failed; "" when it did not
}

// Apply loads and applies the file now, whatever its content.
func (p *Policy) Apply() error {
	data, err := os.ReadFile(p.Path)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	return p.apply(data, "start")
}

func (p *Policy) apply(data []byte, why string) error {
	sum := sha256.Sum256(data)
	pol, err := policy.Parse(p.Path, data)
	if err == nil {
		err = shaper.Apply(pol, shaper.ApplyOptions{Attach: p.Attach, Netns: p.Netns, Source: p.Path, Out: logWriter(p.Log)})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.applied = sum // do not retry the same broken content every poll
		p.lastErr = fmt.Sprintf("policy %s not applied (%s); the running policy stays", p.Path, why)
		return err
	}
	p.applied, p.lastErr = sum, ""
	return nil
}

// Health says why the last reload failed, or "".
func (p *Policy) Health() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Watch re-applies on every value from hup and whenever the file's content
// changes (checked every poll), until ctx ends. Errors are logged.
func (p *Policy) Watch(ctx context.Context, hup <-chan os.Signal, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		var why string
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
			why = "file changed"
		}
		data, err := os.ReadFile(p.Path)
		if err != nil {
			p.Log.Error("read policy; the running policy stays", "file", p.Path, "err", err)
			continue
		}
		p.mu.Lock()
		same := sha256.Sum256(data) == p.applied
		p.mu.Unlock()
		if why == "file changed" && same {
			continue
		}
		p.Log.Info("re-applying policy", "file", p.Path, "why", why)
		if err := p.apply(data, why); err != nil {
			p.Log.Error("policy not applied; the running policy stays", "file", p.Path, "why", why, "err", err.Error())
			continue
		}
		p.Log.Info("policy applied", "file", p.Path, "why", why)
	}
}

// logWriter turns the engine's progress lines into log records.
func logWriter(log *slog.Logger) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				log.Info("apply", "msg", line)
			}
		}
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
