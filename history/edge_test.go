package history

import (
	"path/filepath"
	"testing"
	"time"
)

// Buckets and files across a month's end: the 1 h tier changes files at
// midnight UTC on the 1st, sums and hourly points do not notice.
func TestAcrossMonthEnd(t *testing.T) {
	start := time.Date(2026, 1, 31, 22, 0, 0, 0, time.UTC)
	dir, c := t.TempDir(), &clock{start.Add(5 * time.Hour)}
	s := openAt(t, dir, c, Options{})
	cum := uint64(0)
	for at := start.Add(-time.Minute); at.Before(start.Add(5 * time.Hour)); at = at.Add(time.Minute) {
		record(t, s, at, map[string]uint64{"a": cum})
		cum += 60
	}
	ser, err := s.Query(Query{From: start, To: start.Add(4 * time.Hour), Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser) != 1 || len(ser[0].Points) != 4 {
		t.Fatalf("series %+v", ser)
	}
	for i, p := range ser[0].Points {
		if p.Bytes != 3600 {
			t.Errorf("hour %d (%v): %d bytes, want 3600", i, p.T, p.Bytes)
		}
	}
	if fs, _ := tiers[level1h].files(dir); len(fs) != 2 || filepath.Base(fs[0].path) != "2026-01.dat" ||
		filepath.Base(fs[1].path) != "2026-02.dat" {
		t.Errorf("1h files %v, want 2026-01.dat and 2026-02.dat", fs)
	}
	if got := sumOf(t, s, start.Add(90*time.Minute), start.Add(150*time.Minute), "a"); got != 3600 {
		t.Errorf("sum over 23:30-00:30 = %d, want 3600", got)
	}
}

// A crash after a roll-up bucket was written but before the state said
// so: Open cuts the bucket and rebuilds it from raw, once.
func TestCrashAfterBucketBeforeState(t *testing.T) {
	dir, c := t.TempDir(), &clock{t0.Add(time.Hour)}
	s := openAt(t, dir, c, Options{})
	record(t, s, t0, map[string]uint64{"a": 0})
	record(t, s, t0.Add(time.Minute), map[string]uint64{"a": 100})
	// The bucket [t0, t0+5m) as the writer would write it at the next
	// sample, with the state not yet saved.
	s.w.buf = appendBlock(nil, t0.Unix(), []entry{{0, Totals{100, 1}}})
	if err := s.w.append(dir, level5m, t0.Unix(), s.w.buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, dir, c, Options{})
	record(t, s, t0.Add(6*time.Minute), map[string]uint64{"a": 150})
	for _, step := range []time.Duration{5 * time.Minute, 10 * time.Second} {
		ser, err := s.Query(Query{From: t0, To: t0.Add(10 * time.Minute), Step: step})
		if err != nil || len(ser) != 1 {
			t.Fatalf("query: %v %v", ser, err)
		}
		var total uint64
		for _, p := range ser[0].Points {
			total += p.Bytes
		}
		if total != 150 || ser[0].Points[0].Bytes != 100 && step == 5*time.Minute {
			t.Errorf("step %v: total %d, points %v", step, total, ser[0].Points)
		}
	}
}

// A store filled from the past (a clock fixed at the end) prunes as the
// sample times cross hours, not only when the wall clock does.
func TestRetentionWhileFillingFromThePast(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, &clock{t0.Add(5 * 24 * time.Hour)}, Options{RawRetention: 48 * time.Hour})
	for at := t0; at.Before(t0.Add(5 * 24 * time.Hour)); at = at.Add(10 * time.Minute) {
		record(t, s, at, map[string]uint64{"a": uint64(at.Unix())})
	}
	if fs, _ := tiers[levelRaw].files(dir); len(fs) != 2 {
		t.Errorf("%d raw day files after 5 days with 48h raw retention, want 2", len(fs))
	}
}
