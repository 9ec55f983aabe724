package history

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

const (
	maxRawSpan  = 6 * time.Hour
	max5mSpan   = 7 * 24 * time.Hour
	maxPoints   = 1_000_000
	forever     = int64(1<<62 - 1)
	minuteFive  = 5 * time.Minute
	hourOfSteps = time.Hour
)

// Resolution is the step Query uses for an interval when q.Step is 0: the
// raw interval for up to 6 h within the raw retention, 5 min for up to 7
// days within the 5 min retention, else 1 h.
func (s *Store) Resolution(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refresh()
	return s.resolution(from, to)
}

func (s *Store) resolution(from, to time.Time) time.Duration {
	now, span := s.o.Now(), to.Sub(from)
	switch {
	case span <= maxRawSpan && !from.Before(now.Add(-s.o.RawRetention)):
		return s.o.Interval
	case span <= max5mSpan && !from.Before(now.Add(-s.o.FineRetention)):
		return minuteFive
	}
	return hourOfSteps
}

// Query returns the series of the keys q selects, bucketed by step. Buckets
// are multiples of the step since the epoch (UTC), from the one holding
// q.From to the one holding q.To's last instant, each whole: a sample at t
// counts in the bucket holding t. Keys with nothing counted in the
// interval are left out; a series has every step, zeros included. A step
// that is not a multiple of 1 h or 5 min is answered from raw samples.
func (s *Store) Query(q Query) ([]Series, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return nil, err
	}
	step := q.Step
	if step == 0 {
		step = s.resolution(q.From, q.To)
	}
	if step < time.Second || step%time.Second != 0 {
		return nil, fmt.Errorf("history query: step %v is not a whole number of seconds", q.Step)
	}
	st := int64(step / time.Second)
	from, to := alignDown(q.From.Unix(), st), alignUp(q.To.Unix(), st)
	n := (to - from) / st
	if n <= 0 {
		return nil, nil
	}
	if n > maxPoints {
		return nil, fmt.Errorf("history query: %d steps of %v; use a longer step", n, step)
	}
	level := levelRaw
	if st%3600 == 0 {
		level = level1h
	} else if st%300 == 0 {
		level = level5m
	}
	sel := s.selected(q.Match)
	pts := map[uint32][]Totals{}
	err := s.scan(from, to, level, func(t int64, id uint32, tot Totals) {
		if int(id) >= len(sel) || !sel[id] {
			return
		}
		p := pts[id]
		if p == nil {
			p = make([]Totals, n)
			pts[id] = p
		}
		i := (t - from) / st
		p[i] = Totals{p[i].Bytes + tot.Bytes, p[i].Packets + tot.Packets}
	})
	if err != nil {
		return nil, err
	}
	out := make([]Series, 0, len(pts))
	for id, p := range pts {
		sr := Series{Key: s.kt.keys[id], Points: make([]Point, n)}
		for i := range p {
			sr.Points[i] = Point{T: time.Unix(from+int64(i)*st, 0).UTC(), Totals: p[i]}
		}
		out = append(out, sr)
	}
	slices.SortFunc(out, func(a, b Series) int { return compareKeys(a.Key, b.Key) })
	return out, nil
}

// Sum returns what each selected key counted in [from, to): the samples
// taken in it, from the finest data held for each part of the interval.
// Where raw samples are gone, a roll-up bucket counts when it starts in
// the interval. Keys with nothing counted are left out.
func (s *Store) Sum(from, to time.Time, match func(Key) bool) (map[Key]Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return nil, err
	}
	sel := s.selected(match)
	sums := map[uint32]Totals{}
	err := s.scan(from.Unix(), to.Unix(), level1h, func(_ int64, id uint32, tot Totals) {
		if int(id) < len(sel) && sel[id] {
			add(sums, id, tot)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make(map[Key]Totals, len(sums))
	for id, t := range sums {
		out[s.kt.keys[id]] = t
	}
	return out, nil
}

func (s *Store) selected(match func(Key) bool) []bool {
	sel := make([]bool, len(s.kt.keys))
	for i, k := range s.kt.keys {
		sel[i] = match == nil || match(k)
	}
	return sel
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Netns, b.Netns), cmp.Compare(a.Iface, b.Iface), cmp.Compare(a.Direction, b.Direction),
		cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

// scan visits the entries with from <= t < to, reading whole buckets of
// the tier at level where they fit (and are complete: before the
// watermark) and the finer tiers for the edges.
func (s *Store) scan(from, to int64, level int, v visitor) error {
	if from >= to {
		return nil
	}
	if level == levelRaw {
		return tiers[levelRaw].read(s.dir, from, to, v)
	}
	step := tiers[level].step
	a, b := alignUp(from, step), min(alignDown(to, step), s.watermark(level))
	if a >= b {
		return s.edge(from, to, level, v)
	}
	if err := tiers[level].read(s.dir, a, b, v); err != nil {
		return err
	}
	if err := s.edge(from, a, level, v); err != nil {
		return err
	}
	return s.edge(b, to, level, v)
}

// edge reads [from, to) from the tier finer than level; where that tier
// holds nothing any more (retention), the buckets of level starting in
// it count. Files start at day or month boundaries, which are bucket
// boundaries, so the two never overlap.
func (s *Store) edge(from, to int64, level int, v visitor) error {
	if from >= to {
		return nil
	}
	split := min(max(s.oldest(level-1), from), to)
	if err := tiers[level].read(s.dir, from, min(split, s.watermark(level)), v); err != nil {
		return err
	}
	return s.scan(split, to, level-1, v)
}

// oldest is the start of the oldest file of the tiers at level and finer.
func (s *Store) oldest(level int) int64 {
	o := forever
	for l := level; l >= levelRaw; l-- {
		fs, err := tiers[l].files(s.dir)
		if err == nil && len(fs) > 0 {
			o = min(o, fs[0].start)
		}
	}
	return o
}

// Keys are the keys the store has ever recorded that match selects, in
// no order. The process sampler zeroes those of its kind when it starts,
// so that its counters, which start from zero again, count from there.
func (s *Store) Keys(match func(Key) bool) []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Key
	for _, k := range s.kt.keys {
		if match == nil || match(k) {
			out = append(out, k)
		}
	}
	return out
}
