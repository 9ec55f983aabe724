package history

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a settable time for retention and Resolution.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func appKey(name string) Key {
	return Key{Iface: "eth0", Direction: "egress", Kind: KindApp, Name: name}
}

func openAt(t *testing.T, dir string, c *clock, o Options) *Store {
	t.Helper()
	o.Now = c.now
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func record(t *testing.T, s *Store, at time.Time, cum map[string]uint64) {
	t.Helper()
	var rs []Reading
	for name, b := range cum {
		rs = append(rs, Reading{Key: appKey(name), Bytes: b, Packets: b / 100})
	}
	if err := s.Record(at, rs); err != nil {
		t.Fatal(err)
	}
}

func sumOf(t *testing.T, s *Store, from, to time.Time, name string) uint64 {
	t.Helper()
	m, err := s.Sum(from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m[appKey(name)].Bytes
}

func TestResetsAndFirstReading(t *testing.T) {
	c := &clock{t0}
	s := openAt(t, t.TempDir(), c, Options{})
	// first (not counted), +50, reset to 20 (+20), reset to 0, +30, +0
	for i, b := range []uint64{100, 150, 20, 0, 30, 30} {
		record(t, s, t0.Add(time.Duration(i)*10*time.Second), map[string]uint64{"a": b})
	}
	if got := sumOf(t, s, t0, t0.Add(time.Hour), "a"); got != 100 {
		t.Errorf("sum = %d, want 100", got)
	}
}

func TestRestartContinues(t *testing.T) {
	dir, c := t.TempDir(), &clock{t0}
	s := openAt(t, dir, c, Options{})
	record(t, s, t0, map[string]uint64{"a": 1000})
	record(t, s, t0.Add(10*time.Second), map[string]uint64{"a": 1500})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened after the 5 min and 1 h buckets closed: the open buckets
	// come back from the raw samples, the last reading from the state.
	s = openAt(t, dir, c, Options{})
	record(t, s, t0.Add(2*time.Hour), map[string]uint64{"a": 1700})
	record(t, s, t0.Add(3*time.Hour), map[string]uint64{"a": 1800})
	for _, to := range []time.Duration{time.Hour, 2*time.Hour + time.Second, 4 * time.Hour} {
		want := map[time.Duration]uint64{time.Hour: 500, 2*time.Hour + time.Second: 700, 4 * time.Hour: 800}[to]
		if got := sumOf(t, s, t0, t0.Add(to), "a"); got != want {
			t.Errorf("sum to +%v = %d, want %d", to, got, want)
		}
	}
	ser, err := s.Query(Query{From: t0, To: t0.Add(4 * time.Hour), Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser) != 1 || len(ser[0].Points) != 4 || ser[0].Points[0].Bytes != 500 || ser[0].Points[1].Bytes != 0 ||
		ser[0].Points[2].Bytes != 200 || ser[0].Points[3].Bytes != 100 {
		t.Errorf("hourly series = %+v", ser)
	}
}

func TestTornTail(t *testing.T) {
	dir, c := t.TempDir(), &clock{t0}
	s := openAt(t, dir, c, Options{})
	record(t, s, t0, map[string]uint64{"a": 0})
	record(t, s, t0.Add(10*time.Second), map[string]uint64{"a": 300})
	raw := tiers[levelRaw].path(dir, t0.Unix())
	// A crash in the middle of a block: half a block's bytes at the end.
	block := appendBlock(nil, t0.Add(20*time.Second).Unix(), []entry{{0, Totals{999, 9}}})
	appendFile(t, raw, block[:len(block)-3])
	appendFile(t, filepath.Join(dir, keysFile), []byte(`{"id":1,"iface":"et`))
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := sumOf(t, r, t0, t0.Add(time.Hour), "a"); got != 300 {
		t.Errorf("reader's sum over a torn tail = %d, want 300", got)
	}
	s.Close()
	s = openAt(t, dir, c, Options{})
	record(t, s, t0.Add(30*time.Second), map[string]uint64{"a": 400, "b": 5})
	record(t, s, t0.Add(40*time.Second), map[string]uint64{"a": 450, "b": 10})
	if got := sumOf(t, s, t0, t0.Add(time.Hour), "a"); got != 450 {
		t.Errorf("sum after the writer cut the tail = %d, want 450", got)
	}
	// b is new after the store's first Record: its whole reading counts.
	if got := sumOf(t, r, t0, t0.Add(time.Hour), "b"); got != 10 {
		t.Errorf("reader's sum of a key added after the cut = %d, want 10", got)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// fill records n keys every 10 s over d with random increments and
// returns the sum of the deltas each key made, per key.
func fill(t *testing.T, s *Store, from time.Time, d time.Duration, keys int) map[string]uint64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	cum := map[string]uint64{}
	for i := range keys {
		cum[string(rune('a'+i))] = 0
	}
	record(t, s, from, cum) // the first reading counts nothing
	for at := from.Add(10 * time.Second); at.Before(from.Add(d)); at = at.Add(10 * time.Second) {
		for k := range cum {
			if rng.IntN(3) > 0 {
				cum[k] += uint64(rng.IntN(100_000))
			}
		}
		record(t, s, at, cum)
	}
	return cum
}

func TestRollupsEqualRaw(t *testing.T) {
	c := &clock{t0.Add(50 * time.Hour)}
	s := openAt(t, t.TempDir(), c, Options{RawRetention: 72 * time.Hour})
	fill(t, s, t0.Add(-7*time.Minute), 50*time.Hour, 3)
	from, to := t0.Add(time.Hour).Unix(), t0.Add(49*time.Hour).Unix()
	var sums [3]map[uint32]Totals
	for lvl := range tiers {
		sums[lvl] = map[uint32]Totals{}
		if err := s.scan(from, to, lvl, func(_ int64, id uint32, tot Totals) { add(sums[lvl], id, tot) }); err != nil {
			t.Fatal(err)
		}
		// And the tier alone holds the same for whole buckets.
		only := map[uint32]Totals{}
		if err := tiers[lvl].read(s.dir, from, to, func(_ int64, id uint32, tot Totals) { add(only, id, tot) }); err != nil {
			t.Fatal(err)
		}
		if len(only) != 3 || only[0] != sums[levelRaw][0] || only[2] != sums[levelRaw][2] {
			t.Errorf("tier %s alone: %v, raw: %v", tiers[lvl].name, only, sums[levelRaw])
		}
	}
	if len(sums[0]) != 3 || sums[0][1] != sums[1][1] || sums[0][1] != sums[2][1] || sums[0][0] != sums[2][0] {
		t.Errorf("raw %v, 5m %v, 1h %v", sums[0], sums[1], sums[2])
	}
	// An unaligned interval: Sum takes 1 h, 5 min and raw parts.
	f2, t2 := t0.Add(3*time.Hour+7*time.Minute+13*time.Second), t0.Add(47*time.Hour+59*time.Minute+1*time.Second)
	got, want := map[uint32]Totals{}, map[uint32]Totals{}
	s.scan(f2.Unix(), t2.Unix(), levelRaw, func(_ int64, id uint32, tot Totals) { add(want, id, tot) })
	s.scan(f2.Unix(), t2.Unix(), level1h, func(_ int64, id uint32, tot Totals) { add(got, id, tot) })
	if got[0] != want[0] || got[1] != want[1] || want[0].Bytes == 0 {
		t.Errorf("unaligned sum %v, raw %v", got, want)
	}
}

func TestQueryStepsAndZeros(t *testing.T) {
	c := &clock{t0.Add(3 * time.Hour)}
	s := openAt(t, t.TempDir(), c, Options{})
	record(t, s, t0, map[string]uint64{"a": 0})
	record(t, s, t0.Add(10*time.Second), map[string]uint64{"a": 10})
	record(t, s, t0.Add(2*time.Hour+10*time.Second), map[string]uint64{"a": 30})
	for _, step := range []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour} {
		ser, err := s.Query(Query{From: t0, To: t0.Add(3 * time.Hour), Step: step})
		if err != nil {
			t.Fatal(err)
		}
		n := int(3 * time.Hour / step)
		if len(ser) != 1 || len(ser[0].Points) != n {
			t.Fatalf("step %v: %d series, want 1 of %d points", step, len(ser), n)
		}
		var total uint64
		for i, p := range ser[0].Points {
			if !p.T.Equal(t0.Add(time.Duration(i) * step)) {
				t.Errorf("step %v point %d at %v", step, i, p.T)
			}
			total += p.Bytes
		}
		at2h := ser[0].Points[int(2*time.Hour/step)].Bytes
		if total != 30 || ser[0].Points[0].Bytes != 10 || at2h != 20 {
			t.Errorf("step %v: total %d first %d at 2h %d", step, total, ser[0].Points[0].Bytes, at2h)
		}
	}
	if _, err := s.Query(Query{From: t0, To: t0.Add(time.Hour), Step: 1500 * time.Millisecond}); err == nil {
		t.Error("a step of 1.5 s was accepted")
	}
}

func TestResolution(t *testing.T) {
	now := t0.Add(100 * 24 * time.Hour)
	s := openAt(t, t.TempDir(), &clock{now}, Options{})
	for _, c := range []struct {
		from, to time.Time
		want     time.Duration
	}{
		{now.Add(-time.Hour), now, 10 * time.Second},
		{now.Add(-6 * time.Hour), now, 10 * time.Second},
		{now.Add(-50 * time.Hour), now.Add(-48 * time.Hour), 5 * time.Minute}, // raw is gone
		{now.Add(-24 * time.Hour), now, 5 * time.Minute},
		{now.Add(-7 * 24 * time.Hour), now, 5 * time.Minute},
		{now.Add(-30 * 24 * time.Hour), now, time.Hour},
		{now.Add(-40 * 24 * time.Hour), now.Add(-39 * 24 * time.Hour), time.Hour}, // 5 min is gone
	} {
		if got := s.Resolution(c.from, c.to); got != c.want {
			t.Errorf("Resolution(now-%v, now-%v) = %v, want %v", now.Sub(c.from), now.Sub(c.to), got, c.want)
		}
	}
}

func TestQueryAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	// 2026-03-29 02:00 CET jumps to 03:00 CEST: the local night has 5 hours.
	from := time.Date(2026, 3, 29, 0, 0, 0, 0, berlin)
	to := time.Date(2026, 3, 29, 6, 0, 0, 0, berlin)
	c := &clock{to}
	s := openAt(t, t.TempDir(), c, Options{})
	cum := uint64(0)
	for at := from.Add(-time.Minute); !at.After(to); at = at.Add(time.Minute) {
		record(t, s, at, map[string]uint64{"a": cum})
		cum += 60
	}
	ser, err := s.Query(Query{From: from, To: to, Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser) != 1 || len(ser[0].Points) != 5 {
		t.Fatalf("%d series; want 1 with 5 hourly points", len(ser))
	}
	for i, p := range ser[0].Points {
		if p.Bytes != 3600 || p.T.Minute() != 0 || p.T.Location() != time.UTC {
			t.Errorf("point %d: %v %d bytes", i, p.T, p.Bytes)
		}
	}
	if got := sumOf(t, s, from, to, "a"); got != 5*3600 {
		t.Errorf("sum over the night = %d, want %d", got, 5*3600)
	}
}

func TestRetention(t *testing.T) {
	dir, c := t.TempDir(), &clock{t0}
	s := openAt(t, dir, c, Options{RawRetention: 48 * time.Hour, FineRetention: 72 * time.Hour})
	for h := range 5 * 24 {
		c.t = t0.Add(time.Duration(h) * time.Hour)
		record(t, s, c.t, map[string]uint64{"a": uint64(h) * 1000})
	}
	names := func(tier string) string {
		fs, _ := tiers[map[string]int{"raw": 0, "5m": 1, "1h": 2}[tier]].files(dir)
		var n []string
		for _, f := range fs {
			n = append(n, filepath.Base(f.path))
		}
		return strings.Join(n, " ")
	}
	// Now is March 5, 23:00: raw keeps the days ending after March 3,
	// 23:00, 5 min those ending after March 2, 23:00.
	if got := names("raw"); got != "2026-03-03.dat 2026-03-04.dat 2026-03-05.dat" {
		t.Errorf("raw files: %s", got)
	}
	if got := names("5m"); got != "2026-03-02.dat 2026-03-03.dat 2026-03-04.dat 2026-03-05.dat" {
		t.Errorf("5m files: %s", got)
	}
	if got := names("1h"); got != "2026-03.dat" {
		t.Errorf("1h files: %s", got)
	}
	// Old data still sums from the 1 h tier.
	if got := sumOf(t, s, t0, t0.Add(5*24*time.Hour), "a"); got != 119*1000 {
		t.Errorf("sum over 5 days = %d, want %d", got, 119*1000)
	}
	s.Close()
	// A size limit below what is held deletes the oldest files first.
	openAt(t, dir, c, Options{MaxSize: 1})
	if got := names("5m") + "|" + names("1h"); got != "|2026-03.dat" && got != "|" {
		t.Errorf("files left under a 1 byte limit: %s", got)
	}
	if got := names("raw"); got != "2026-03-05.dat" && got != "" {
		t.Errorf("raw files under a 1 byte limit: %s", got)
	}
}

func TestReaderAndOneWriter(t *testing.T) {
	dir, c := t.TempDir(), &clock{t0}
	if _, err := OpenReadOnly(dir); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("OpenReadOnly of an empty dir: %v", err)
	}
	s := openAt(t, dir, c, Options{})
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a second writer: %v", err)
	}
	record(t, s, t0, map[string]uint64{"a": 0})
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	record(t, s, t0.Add(10*time.Second), map[string]uint64{"a": 7, "b": 1})
	record(t, s, t0.Add(20*time.Second), map[string]uint64{"a": 9, "b": 4})
	// b is new after the store's first Record: its whole reading counts.
	if got := sumOf(t, r, t0, t0.Add(time.Minute), "b"); got != 4 {
		t.Errorf("reader sees b = %d, want 4", got)
	}
	first, last, ok := r.Span()
	if !ok || !first.Equal(t0.Add(10*time.Second)) || !last.Equal(t0.Add(20*time.Second)) {
		t.Errorf("Span = %v %v %v", first, last, ok)
	}
	if err := r.Record(t0, nil); err == nil {
		t.Error("a read-only store recorded")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
