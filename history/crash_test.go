package history

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"
)

// kill stops using s as kill -9 would: the files are closed without a
// sync or anything else written, the open buckets and the in-memory
// state are dropped, and the lock goes with the process.
func kill(s *Store) {
	w := s.w
	for _, f := range append(append(w.files[:], w.state[:]...), w.keys) {
		if f != nil {
			f.Close()
		}
	}
	w.lock.Close()
	s.w = nil
}

// crashNext makes the next Record stop at point (a kill there).
func crashNext(t *testing.T, point string) {
	testCrash = func(p string) bool {
		if p != point {
			return false
		}
		testCrash = nil
		return true
	}
	t.Cleanup(func() { testCrash = nil })
}

func classKey(name string) Key {
	return Key{Netns: "lab", Iface: "eth0", Direction: "egress", Kind: KindClass, Name: name}
}

// counters are a lab's cumulative counters: web and mail count from the
// start at 40 and 20 mbit, an app appears later (its counter begins at
// its first packets, after the store's first sample).
type counters struct {
	at          time.Time
	web, mail   uint64
	late        uint64
	lateStarted bool
}

func (c *counters) advance(to time.Time, rng *rand.Rand) {
	if !to.After(c.at) {
		return
	}
	d := uint64(to.Sub(c.at) / time.Microsecond)
	c.web += d * 5 // 5 bytes a µs: 40 mbit
	c.mail += d*5/2 + uint64(rng.IntN(3))
	if c.lateStarted {
		c.late += d / 10
	}
	c.at = to
}

func (c *counters) readings() []Reading {
	rs := []Reading{
		{Key: classKey("web"), Bytes: c.web, Packets: c.web / 1500},
		{Key: classKey("mail"), Bytes: c.mail, Packets: c.mail / 1500},
	}
	if c.lateStarted {
		rs = append(rs, Reading{Key: appKey("late"), Bytes: c.late, Packets: c.late / 100})
	}
	return rs
}

// The store is killed at every point of a Record (after the key line,
// after the roll-up buckets, in the middle of the raw block, after the
// raw block, in the middle of the state, after the state) and started
// again the way serve's sampler starts: its first sample at once, at a
// time off the interval's multiples, then on them; the restart comes
// within the same second as the last sample, one or a few seconds later,
// or with the clock stepped back before the last sample. Samples cross 5
// minute and hour buckets. Whatever the kills, the store's Sum over the
// whole range is exactly the last reading minus the first (the whole last
// reading for the app that appeared later), from the writer, a reader, and
// Query's 1 s, 5 min and 1 h steps.
func TestHistoryKillAtEverySeam(t *testing.T) {
	points := []string{"keys", "buckets", "raw-torn", "raw", "state", "saved"}
	// Where the restarted sampler's first sample falls after the kill.
	restarts := []time.Duration{0, 300 * time.Millisecond, 999 * time.Millisecond, 1500 * time.Millisecond,
		4 * time.Second, -2 * time.Second, 7*time.Minute + 100*time.Millisecond}
	for i, point := range points {
		t.Run(point, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			dir := t.TempDir()
			c := &clock{t0.Add(3 * time.Hour)}
			start := t0.Add(58*time.Minute + 57*time.Second + 300*time.Millisecond)
			ctr := &counters{at: start.Add(-time.Hour), web: 1e9, mail: 5e8}
			s := openAt(t, dir, c, Options{Interval: time.Second})
			var first map[Key]uint64
			sampleAt := start
			kills := 0
			for n := 0; sampleAt.Before(start.Add(20 * time.Minute)); n++ {
				if n == 40 {
					ctr.lateStarted = true
				}
				ctr.advance(sampleAt.Add(time.Duration(rng.IntN(300))*time.Millisecond), rng) // the read is a little late
				crash := n > 0 && n%7 == 0
				if crash {
					crashNext(t, point)
				}
				err := s.Record(sampleAt, ctr.readings())
				if first == nil && err == nil {
					first = map[Key]uint64{}
					for _, r := range ctr.readings() {
						first[r.Key] = r.Bytes
					}
				}
				if !crash {
					if err != nil {
						t.Fatal(err)
					}
					sampleAt = sampleAt.Truncate(time.Second).Add(time.Second)
					continue
				}
				if err != errCrashed {
					t.Fatalf("sample %d: stopped at %q: %v", n, point, err)
				}
				kills++
				kill(s)
				last := sampleAt
				s = openAt(t, dir, c, Options{Interval: time.Second})
				sampleAt = last.Add(restarts[kills%len(restarts)] + time.Duration(rng.IntN(1000))*time.Millisecond)
			}
			if kills < 10 {
				t.Fatalf("only %d kills", kills)
			}
			t.Logf("%d kills at %q", kills, point)
			// The last sample, after the last restart.
			ctr.advance(sampleAt, rng)
			if err := s.Record(sampleAt, ctr.readings()); err != nil {
				t.Fatal(err)
			}
			want := map[Key]uint64{classKey("web"): ctr.web - first[classKey("web")],
				classKey("mail"): ctr.mail - first[classKey("mail")], appKey("late"): ctr.late}
			from, to := t0, t0.Add(3*time.Hour)
			r, err := OpenReadOnly(dir)
			if err != nil {
				t.Fatal(err)
			}
			for who, st := range map[string]*Store{"writer": s, "reader": r} {
				sums, err := st.Sum(from, to, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, w := range want {
					if got := sums[k].Bytes; got != w {
						t.Errorf("%s: Sum of %s = %d, want %d (%+d)", who, k.Name, got, w, int64(got)-int64(w))
					}
				}
				for _, step := range []time.Duration{time.Second, 5 * time.Minute, time.Hour} {
					ser, err := st.Query(Query{From: from, To: to, Step: step})
					if err != nil {
						t.Fatal(err)
					}
					for _, sr := range ser {
						var got uint64
						for _, p := range sr.Points {
							got += p.Bytes
						}
						if got != want[sr.Key] {
							t.Errorf("%s: Query step %v of %s = %d, want %d", who, step, sr.Name, got, want[sr.Key])
						}
					}
				}
			}
		})
	}
}

// A class the policy adds after the store's first sample (serve samples
// before it applies --policy) counts from its first byte: its counter
// began after the last sample, so its whole first reading is new. The
// store's own first reading still counts nothing.
func TestHistoryNewKeyCountsWholeReading(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprint("restart=", restart), func(t *testing.T) {
			dir, c := t.TempDir(), &clock{t0}
			s := openAt(t, dir, c, Options{Interval: time.Second})
			at := t0.Add(300 * time.Millisecond)
			// The first sample: another class already counted 7000
			// bytes before serve started; web does not exist yet.
			if err := s.Record(at, []Reading{{Key: classKey("other"), Bytes: 7000, Packets: 7}}); err != nil {
				t.Fatal(err)
			}
			if restart {
				kill(s)
				s = openAt(t, dir, c, Options{Interval: time.Second})
			}
			// The policy made web; 2.8 MB went through it before the
			// next sample.
			for i, b := range []uint64{2_800_000, 7_800_000, 12_800_000} {
				rs := []Reading{{Key: classKey("other"), Bytes: 7000, Packets: 7}, {Key: classKey("web"), Bytes: b, Packets: b / 1500}}
				if err := s.Record(t0.Add(time.Duration(i+1)*time.Second), rs); err != nil {
					t.Fatal(err)
				}
			}
			sums, err := s.Sum(t0, t0.Add(time.Minute), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sums[classKey("web")].Bytes; got != 12_800_000 {
				t.Errorf("web = %d, want 12800000", got)
			}
			if got, ok := sums[classKey("other")]; ok {
				t.Errorf("other = %d, want nothing (its first reading)", got.Bytes)
			}
		})
	}
}

// A state saved by the store's first version (no RawT and RawEnd) is read
// and its raw blocks are kept.
func TestHistoryStateVersion1(t *testing.T) {
	st := &state{Seq: 3, T: 100, Interval: 10, W5: 0, W1: 0, RawRetention: 7200, FineRetention: 86400,
		Last: map[uint32]counts{4: {10, 1}}}
	b := st.encode()
	// Version 1: the magic, seven int64, the keys, the CRC.
	v1 := append([]byte{}, b[:4+7*8]...)
	binary.LittleEndian.PutUint32(v1, stateMagicV1)
	v1 = append(v1, b[4+9*8:len(b)-4]...)
	v1 = appendCRC(v1)
	got, err := decodeState(v1)
	if err != nil {
		t.Fatal(err)
	}
	if got.T != 100 || got.RawEnd != -1 || got.Last[4] != (counts{10, 1}) {
		t.Errorf("decoded %+v", got)
	}
}

func appendCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}
