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
	// Quotas, when set, moves apps whose quota is used up to their then
	// class in what is applied; the file stays as written.
	Quotas *Quotas

	applyMu sync.Mutex     // one apply at a time: the watcher's and the quotas'
	good    *policy.Policy // the file's policy last applied, as written

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
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	sum := sha256.Sum256(data)
	pol, err := policy.Parse(p.Path, data)
	if err == nil {
		err = p.applyParsed(pol)
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

// applyParsed applies pol, the file's policy, with the quotas' moves.
func (p *Policy) applyParsed(pol *policy.Policy) error {
	eff, spent := pol, map[string]bool(nil)
	if p.Quotas != nil {
		eff, spent = p.Quotas.Plan(pol)
	}
	err := shaper.Apply(eff, shaper.ApplyOptions{Attach: p.Attach, Netns: p.Netns, Source: p.Path, Out: logWriter(p.Log)})
	if err != nil {
		return err
	}
	p.good = pol
	if p.Quotas != nil {
		p.Quotas.Applied(pol, spent)
	}
	return nil
}

// Reapply applies the policy last applied from the file again (not the
// file as it is now: that is Watch's job), for a quota that ran out or
// whose period ended.
func (p *Policy) Reapply(why string) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if p.good == nil {
		return nil
	}
	p.Log.Info("re-applying policy", "file", p.Path, "why", why)
	return p.applyParsed(p.good)
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
