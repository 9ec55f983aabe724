package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// stateFile holds what the writer needs to continue after a restart and a
// reader needs to know which roll-ups are complete: the last reading of
// every key, the time of the last Record, the tiers' watermarks (every
// bucket before them is written) and where the raw samples it covers end. Two files take turns, each overwritten
// in place with a sequence number and a CRC: a reader (or the writer after
// a crash) takes the valid one with the higher sequence, so a torn write
// leaves the previous state. A temp file and rename per Record cost twenty
// times more (docs/history.md).
var stateFiles = [2]string{"state.0", "state.1"}

const (
	stateMagic   = 0x73687332 // "shs2"
	stateMagicV1 = 0x73687331 // "shs1": without RawT and RawEnd
)

// hdr is the state's fixed part: magic, nine int64, the count of keys
// (seven int64 in a version 1 state).
const (
	hdr   = 4 + 9*8 + 4
	hdrV1 = 4 + 7*8 + 4
)

type counts struct{ Bytes, Packets uint64 }

type state struct {
	Seq      int64 // which of the two files is newer
	T        int64 // unix seconds of the last Record; 0: none yet
	Interval int64 // the writer's sampling interval, seconds
	W5, W1   int64 // roll-up watermarks: buckets before them are written
	// The writer's retentions, seconds, so that readers choose tiers
	// that hold the data.
	RawRetention, FineRetention int64
	// The raw sample the state covers last: its time (0: none yet) and
	// the size of its day's file after it. The raw block of a Record is
	// appended before the state that counts its readings is saved; a
	// block after RawEnd was written by a writer that stopped before
	// saving the state, and Open cuts it: the next Record counts its
	// deltas again from the readings this state holds. RawEnd is -1 in a
	// version 1 state (nothing is cut).
	RawT, RawEnd int64
	Last         map[uint32]counts
}

func (s *state) encode() []byte {
	b := make([]byte, 0, hdr+len(s.Last)*20+4)
	b = binary.LittleEndian.AppendUint32(b, stateMagic)
	for _, v := range []int64{s.Seq, s.T, s.Interval, s.W5, s.W1, s.RawRetention, s.FineRetention, s.RawT, s.RawEnd} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Last)))
	for id, c := range s.Last {
		b = binary.LittleEndian.AppendUint32(b, id)
		b = binary.LittleEndian.AppendUint64(b, c.Bytes)
		b = binary.LittleEndian.AppendUint64(b, c.Packets)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadState = errors.New("corrupt state file")

func decodeState(b []byte) (*state, error) {
	if len(b) < 4 {
		return nil, errBadState
	}
	le := binary.LittleEndian
	h, ints := hdr, 9
	switch le.Uint32(b) {
	case stateMagic:
	case stateMagicV1:
		h, ints = hdrV1, 7
	default:
		return nil, errBadState
	}
	if len(b) < h+4 {
		return nil, errBadState
	}
	body, sum := b[:len(b)-4], le.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, errBadState
	}
	v := func(i int) int64 { return int64(le.Uint64(b[4+8*i:])) }
	s := &state{Seq: v(0), T: v(1), Interval: v(2), W5: v(3), W1: v(4), RawRetention: v(5), FineRetention: v(6),
		RawEnd: -1, Last: map[uint32]counts{}}
	if ints == 9 {
		s.RawT, s.RawEnd = v(7), v(8)
	}
	n := int(le.Uint32(b[4+8*ints:]))
	if len(body) != h+n*20 {
		return nil, errBadState
	}
	for i := range n {
		e := body[h+i*20:]
		s.Last[le.Uint32(e)] = counts{le.Uint64(e[4:]), le.Uint64(e[12:])}
	}
	return s, nil
}

// loadState reads the newer valid state; none is an empty store.
func loadState(dir string) (*state, error) {
	var best *state
	bad := ""
	for _, name := range stateFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read history state: %w", err)
		}
		s, err := decodeState(b)
		if err != nil {
			bad = name
			continue
		}
		if best == nil || s.Seq > best.Seq {
			best = s
		}
	}
	if best == nil && bad != "" {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, bad), errBadState)
	}
	if best == nil {
		best = &state{Last: map[uint32]counts{}}
	}
	return best, nil
}

// save overwrites the older of the two state files (no fsync: Close
// syncs). A torn write leaves the other file, one Record older, whose raw
// blocks and readings agree with each other: nothing is lost or counted
// twice.
func (s *state) save(fs [2]*os.File) error {
	s.Seq++
	f := fs[s.Seq%2]
	b := s.encode()
	if crashAt("state") {
		_, _ = f.WriteAt(b[:len(b)/2], 0) // a kill in the middle of the write
		return errCrashed
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write history state: %w", err)
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("write history state: %w", err)
	}
	return nil
}
