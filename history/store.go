package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultInterval      = 10 * time.Second
	DefaultRawRetention  = 48 * time.Hour
	DefaultRetention     = 400 * 24 * time.Hour
	DefaultFineRetention = 35 * 24 * time.Hour
	DefaultMaxSize       = 1 << 30
)

// minRawRetention keeps raw samples for the open hour's roll-up, which is
// rebuilt from them after a restart.
const minRawRetention = 2 * time.Hour

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.RawRetention <= 0 {
		o.RawRetention = DefaultRawRetention
	}
	o.RawRetention = max(o.RawRetention, minRawRetention)
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.FineRetention <= 0 {
		o.FineRetention = DefaultFineRetention
	}
	o.FineRetention = min(o.FineRetention, o.Retention)
	// Each tier keeps at most as long as the next coarser one: a read
	// takes the coarse buckets where they are complete.
	o.RawRetention = min(o.RawRetention, o.FineRetention)
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Open opens (creating it if needed) the store in dir for writing. One
// writer at a time: a lock file says so, and a second Open fails.
func Open(dir string, o Options) (*Store, error) {
	o = o.withDefaults()
	for _, tr := range tiers {
		if err := os.MkdirAll(filepath.Join(dir, tr.name), 0o755); err != nil {
			return nil, fmt.Errorf("create history directory: %w", err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, o: o, kt: newKeyTable()}
	if err := s.openWriter(lock); err != nil {
		if s.w != nil {
			s.w.close()
		} else {
			lock.Close()
		}
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens the store in dir for reading while a writer may be
// appending to it (another process). It takes no lock and writes nothing;
// each Query and Sum sees what the writer has flushed by then. A directory
// without history is an error wrapping os.ErrNotExist.
func OpenReadOnly(dir string) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dir, keysFile)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no history in %s (shaper serve records it there): %w", dir, os.ErrNotExist)
		}
		return nil, fmt.Errorf("open history: %w", err)
	}
	s := &Store{dir: dir, ro: true, o: Options{}.withDefaults(), kt: newKeyTable()}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// refresh makes a reader see the writer's latest keys and watermarks.
func (s *Store) refresh() error {
	if !s.ro {
		return nil
	}
	if _, err := s.kt.load(filepath.Join(s.dir, keysFile)); err != nil {
		return err
	}
	st, err := loadState(s.dir)
	if err != nil {
		return err
	}
	s.st = st
	if st.Interval > 0 {
		s.o.Interval = time.Duration(st.Interval) * time.Second
		s.o.RawRetention = time.Duration(st.RawRetention) * time.Second
		s.o.FineRetention = time.Duration(st.FineRetention) * time.Second
	}
	return nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open history lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("history in %s is being written by another process (another shaper serve?): "+
				"stop it or give this one another --state-dir", dir)
		}
		return nil, fmt.Errorf("lock history: %w", err)
	}
	return f, nil
}

// Close syncs and closes the store. The open roll-up buckets are not
// written: the next Open rebuilds them from the raw samples.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.close()
	s.w = nil
	return err
}

// Span is the time of the first and the last sample held; ok is false when
// the store is empty.
func (s *Store) Span() (first, last time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refresh() != nil || s.st.T == 0 {
		return
	}
	f := s.st.T
	for lvl, tr := range tiers {
		fs, err := tr.files(s.dir)
		if err != nil || len(fs) == 0 {
			continue
		}
		data, err := os.ReadFile(fs[0].path)
		if err != nil {
			continue
		}
		blocks(data, func(t int64, _ []byte) bool {
			if lvl == levelRaw || t < s.watermark(lvl) {
				f = min(f, t)
			}
			return false
		})
	}
	return time.Unix(f, 0), time.Unix(s.st.T, 0), true
}

// watermark is the end of what a roll-up tier holds complete.
func (s *Store) watermark(level int) int64 {
	switch level {
	case level5m:
		return s.st.W5
	case level1h:
		return s.st.W1
	}
	return 1<<63 - 1
}
