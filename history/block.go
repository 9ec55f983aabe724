package history

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// A data file (raw samples or a roll-up tier) is a sequence of blocks, one
// per sample or bucket, appended in time order:
//
//	t    int64 LE   unix seconds: the sample time or the bucket's start
//	n    uint32 LE  payload length
//	crc  uint32 LE  CRC-32C of t, n and the payload
//	payload         (key id, bytes, packets) as uvarints, per non-zero key
//
// The CRC makes a torn tail (a crash in the middle of a write) visible: a
// reader stops at the first block that does not check, and the writer cuts
// it off when it opens. Varints keep a block near 8 bytes a key instead of
// the 24 of fixed-size fields: the raw tier is most of the store.
const blockHeader = 16

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// entry is one key's delta in a block.
type entry struct {
	id uint32
	Totals
}

// appendBlock encodes a block of entries at t onto buf.
func appendBlock(buf []byte, t int64, es []entry) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, blockHeader)...)
	for _, e := range es {
		buf = binary.AppendUvarint(buf, uint64(e.id))
		buf = binary.AppendUvarint(buf, e.Bytes)
		buf = binary.AppendUvarint(buf, e.Packets)
	}
	h := buf[start:]
	binary.LittleEndian.PutUint64(h[0:], uint64(t))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(buf)-start-blockHeader))
	crc := crc32.Update(crc32.Checksum(h[0:12], crcTable), crcTable, h[blockHeader:])
	binary.LittleEndian.PutUint32(h[12:], crc)
	return buf
}

// visitor receives the entries of the blocks a read selects.
type visitor func(t int64, id uint32, tot Totals)

// blocks walks data block by block and calls fn with each block's time and
// payload. It returns the length of the valid prefix: data[valid:] is a
// torn or corrupt tail. fn returning false stops the walk.
func blocks(data []byte, fn func(t int64, payload []byte) bool) (valid int) {
	off := 0
	for off+blockHeader <= len(data) {
		h := data[off:]
		t := int64(binary.LittleEndian.Uint64(h[0:]))
		n := int(binary.LittleEndian.Uint32(h[8:]))
		if n < 0 || off+blockHeader+n > len(data) {
			break
		}
		payload := h[blockHeader : blockHeader+n]
		if crc32.Update(crc32.Checksum(h[0:12], crcTable), crcTable, payload) != binary.LittleEndian.Uint32(h[12:]) {
			break
		}
		off += blockHeader + n
		if !fn(t, payload) {
			return off
		}
	}
	return off
}

// decodeEntries calls v for each entry of a payload.
func decodeEntries(t int64, payload []byte, v visitor) error {
	for len(payload) > 0 {
		var vals [3]uint64
		for i := range vals {
			x, k := binary.Uvarint(payload)
			if k <= 0 {
				return fmt.Errorf("bad entry in block at %d", t)
			}
			vals[i], payload = x, payload[k:]
		}
		v(t, uint32(vals[0]), Totals{Bytes: vals[1], Packets: vals[2]})
	}
	return nil
}

// readBlocks reads a data file and visits the entries of its blocks with
// from <= t < to. A missing file is empty.
func readBlocks(path string, from, to int64, v visitor) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var derr error
	blocks(data, func(t int64, payload []byte) bool {
		if t >= to {
			return false
		}
		if t >= from {
			if err := decodeEntries(t, payload, v); err != nil {
				derr = fmt.Errorf("%s: %w", path, err)
				return false
			}
		}
		return true
	})
	return derr
}
