package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// writer is the part of a Store only the writer has: open files, the
// roll-up buckets still open, and when retention runs next.
type writer struct {
	lock, keys *os.File
	state      [2]*os.File
	files      [3]*os.File // the current file of each tier
	paths      [3]string
	sizes      [3]int64          // of the current files, to undo a short write
	open5      map[uint32]Totals // the open 5 min bucket, starting at st.W5
	open1      map[uint32]Totals // the open 1 h bucket, starting at st.W1
	pruned     int64             // the hour (of Record times) retention last ran in
	buf        []byte
}

func (s *Store) openWriter(lock *os.File) error {
	w := &writer{lock: lock, open5: map[uint32]Totals{}, open1: map[uint32]Totals{}}
	kpath := filepath.Join(s.dir, keysFile)
	valid, err := s.kt.load(kpath)
	if err != nil {
		return err
	}
	// A torn last line is cut off: the key is added again when seen.
	if err := truncateTo(kpath, valid); err != nil {
		return err
	}
	s.w = w
	if w.keys, err = os.OpenFile(kpath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return fmt.Errorf("open key table: %w", err)
	}
	if s.st, err = loadState(s.dir); err != nil {
		return fmt.Errorf("%w (remove it to start the history afresh)", err)
	}
	for i, name := range stateFiles {
		if w.state[i], err = os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
			return fmt.Errorf("open history state: %w", err)
		}
	}
	s.st.Interval = int64(s.o.Interval / time.Second)
	s.st.RawRetention, s.st.FineRetention = int64(s.o.RawRetention/time.Second), int64(s.o.FineRetention/time.Second)
	if err := s.repair(); err != nil {
		return err
	}
	if err := s.rebuildOpen(); err != nil {
		return err
	}
	s.w.pruned = alignDown(s.st.T, 3600)
	return s.prune()
}

// repair cuts what a writer that stopped abruptly (kill -9, a crash)
// left behind that its state does not cover: torn tails, raw blocks
// appended after the last saved state (their readings are not in it, so
// the next Record counts them again), and roll-up blocks at or after
// their watermark (rebuilt from the raw samples).
func (s *Store) repair() error {
	rawFile := ""
	if s.st.RawT != 0 {
		rawFile = tiers[levelRaw].path(s.dir, s.st.RawT)
	}
	for lvl, tr := range tiers {
		fs, err := tr.files(s.dir)
		if err != nil {
			return fmt.Errorf("list history: %w", err)
		}
		for _, f := range fs {
			end, cut := s.watermark(lvl), int64(-1)
			if lvl == levelRaw {
				switch {
				case s.st.T == 0 || s.st.RawEnd < 0:
					// No state, or one that does not say where its
					// raw blocks end (version 1): torn tails only.
					if f.end <= s.st.T {
						continue
					}
				case f.path == rawFile:
					cut = s.st.RawEnd
				case f.start > s.st.RawT:
					cut = 0 // every block in it came after the state
				default:
					continue
				}
			} else if f.end <= end {
				continue
			}
			data, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("read history: %w", err)
			}
			if cut >= 0 && int64(len(data)) > cut {
				data = data[:cut]
			}
			if err := truncateTo(f.path, int64(validBefore(data, end))); err != nil {
				return err
			}
		}
	}
	return nil
}

// validBefore is the length of data's blocks with t < end.
func validBefore(data []byte, end int64) int {
	n := 0
	blocks(data, func(t int64, p []byte) bool {
		if t >= end {
			return false
		}
		n += blockHeader + len(p)
		return true
	})
	return n
}

func truncateTo(path string, size int64) error {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || info.Size() == size {
		return err
	}
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", path, err)
	}
	return nil
}

// rebuildOpen sums the raw samples since the watermarks into the open
// buckets, as they were before the store was closed.
func (s *Store) rebuildOpen() error {
	if s.st.W1 == 0 {
		return nil
	}
	return tiers[levelRaw].read(s.dir, min(s.st.W1, s.st.W5), 1<<62, func(t int64, id uint32, tot Totals) {
		if t >= s.st.W5 {
			add(s.w.open5, id, tot)
		}
		if t >= s.st.W1 {
			add(s.w.open1, id, tot)
		}
	})
}

func add(m map[uint32]Totals, id uint32, tot Totals) {
	o := m[id]
	m[id] = Totals{o.Bytes + tot.Bytes, o.Packets + tot.Packets}
}

// Record stores the readings taken at t. A time before the last Record
// (the clock stepped back) counts at the last Record's time.
//
// The raw block goes first, the state that holds the readings it counts
// from second, and the state says where the raw blocks it covers end: a
// kill between the two leaves a block the state does not cover, which
// Open cuts, and the next Record counts the same bytes again from the
// older readings. Either order without that would lose an interval
// (state first) or count it twice (block first).
func (s *Store) Record(t time.Time, rs []Reading) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return errors.New("history: record on a read-only or closed store")
	}
	ts := max(t.Unix(), s.st.T)
	es, next, err := s.deltas(rs)
	if err != nil {
		return err
	}
	if crashAt("keys") {
		return errCrashed
	}
	if err := s.closeBuckets(ts); err != nil {
		return err
	}
	if crashAt("buckets") {
		return errCrashed
	}
	if len(es) > 0 {
		s.w.buf = appendBlock(s.w.buf[:0], ts, es)
		if crashAt("raw-torn") {
			_ = s.w.append(s.dir, levelRaw, ts, s.w.buf[:len(s.w.buf)/2])
			return errCrashed
		}
		// A failed append is cut off again and the readings are not
		// taken: the next Record counts these bytes.
		if err := s.w.append(s.dir, levelRaw, ts, s.w.buf); err != nil {
			return err
		}
		s.st.RawT, s.st.RawEnd = ts, s.w.sizes[levelRaw]
		if crashAt("raw") {
			return errCrashed
		}
	}
	for _, e := range es {
		add(s.w.open5, e.id, e.Totals)
		add(s.w.open1, e.id, e.Totals)
	}
	for id, c := range next {
		s.st.Last[id] = c
	}
	s.st.T = ts
	if err := s.st.save(s.w.state); err != nil {
		return err
	}
	if crashAt("saved") {
		return errCrashed
	}
	if h := alignDown(ts, 3600); h != s.w.pruned {
		s.w.pruned = h
		return s.prune()
	}
	return nil
}

// deltas turns readings into the non-zero deltas since the last ones and
// returns the readings to remember once the deltas are stored. A reading
// below the last is a reset: all of it is new. A key the store has not
// seen counts its whole reading too: its counter began after the last
// Record (a class the policy adds, an app's first packets), so all of it
// was counted since. Only the store's first Record counts nothing: when
// the counters it finds were counted is unknown.
func (s *Store) deltas(rs []Reading) ([]entry, map[uint32]counts, error) {
	var es []entry
	next := make(map[uint32]counts, len(rs))
	for _, r := range rs {
		id, ok := s.kt.ids[r.Key]
		if !ok {
			var err error
			if id, err = s.kt.add(s.w.keys, r.Key); err != nil {
				return nil, nil, err
			}
		}
		now := counts{r.Bytes, r.Packets}
		last, seen := next[id]
		if !seen {
			last, seen = s.st.Last[id]
		}
		next[id] = now
		var d Totals
		switch {
		case !seen && s.st.T == 0:
		case !seen, now.Bytes < last.Bytes || now.Packets < last.Packets:
			d = Totals(now)
		default:
			d = Totals{now.Bytes - last.Bytes, now.Packets - last.Packets}
		}
		if d != (Totals{}) {
			es = append(es, entry{id, d})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return int(a.id) - int(b.id) })
	return es, next, nil
}

// crashAt stops a Record at a point as a kill would, when a test asks;
// testCrash is nil outside tests.
func crashAt(point string) bool { return testCrash != nil && testCrash(point) }

var (
	testCrash  func(point string) bool
	errCrashed = errors.New("history: stopped by a test")
)

// closeBuckets writes the roll-up buckets that end at or before ts and
// moves the watermarks to the buckets ts falls in.
func (s *Store) closeBuckets(ts int64) error {
	if s.st.W1 == 0 {
		s.st.W5, s.st.W1 = alignDown(ts, 300), alignDown(ts, 3600)
		return nil
	}
	for _, b := range []struct {
		level int
		w     *int64
		open  *map[uint32]Totals
	}{{level5m, &s.st.W5, &s.w.open5}, {level1h, &s.st.W1, &s.w.open1}} {
		start := alignDown(ts, tiers[b.level].step)
		if start <= *b.w {
			continue
		}
		if len(*b.open) > 0 {
			s.w.buf = appendBlock(s.w.buf[:0], *b.w, sortedEntries(*b.open))
			if err := s.w.append(s.dir, b.level, *b.w, s.w.buf); err != nil {
				return err
			}
			*b.open = map[uint32]Totals{}
		}
		*b.w = start
	}
	return nil
}

func sortedEntries(m map[uint32]Totals) []entry {
	es := make([]entry, 0, len(m))
	for id, t := range m {
		es = append(es, entry{id, t})
	}
	slices.SortFunc(es, func(a, b entry) int { return int(a.id) - int(b.id) })
	return es
}

// append writes a block to the tier's file for t: one write(2) on an
// O_APPEND file, so a reader sees whole blocks or a torn tail it skips. A
// failed write (disk full) is cut off again: blocks after it would be
// hidden behind it.
func (w *writer) append(dir string, level int, t int64, block []byte) error {
	p := tiers[level].path(dir, t)
	if w.paths[level] != p {
		if w.files[level] != nil {
			w.files[level].Close()
		}
		w.files[level], w.paths[level] = nil, ""
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open history file: %w", err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("open history file: %w", err)
		}
		w.files[level], w.paths[level], w.sizes[level] = f, p, info.Size()
	}
	f := w.files[level]
	if _, err := f.Write(block); err != nil {
		_ = f.Truncate(w.sizes[level])
		return fmt.Errorf("write %s: %w", p, err)
	}
	w.sizes[level] += int64(len(block))
	return nil
}

func (w *writer) close() error {
	var errs []error
	for _, f := range append(append(w.files[:], w.state[:]...), w.keys) {
		if f != nil {
			errs = append(errs, f.Sync(), f.Close())
		}
	}
	errs = append(errs, w.lock.Close())
	return errors.Join(errs...)
}
