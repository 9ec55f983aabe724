package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// keysFile holds the key table: one JSON object a line, appended when a
// key is first recorded. Data files name keys by the line's id.
const keysFile = "keys.jsonl"

type keyLine struct {
	ID uint32 `json:"id"`
	Key
}

// keyTable maps keys to ids and back. A reader reloads it when the file
// has grown; a torn last line (no newline yet) is read next time.
type keyTable struct {
	ids    map[Key]uint32
	keys   []Key // by id
	loaded int64 // bytes of the file read so far
}

func newKeyTable() *keyTable { return &keyTable{ids: map[Key]uint32{}} }

// load reads the lines appended since the last load and returns the
// length of the file's valid prefix.
func (kt *keyTable) load(path string) (int64, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open key table: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(kt.loaded, io.SeekStart); err != nil {
		return 0, fmt.Errorf("read key table: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("read key table: %w", err)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		var l keyLine
		if err := json.Unmarshal(data[:i], &l); err != nil {
			return 0, fmt.Errorf("%s: line at byte %d: %w", path, kt.loaded, err)
		}
		if int(l.ID) != len(kt.keys) {
			return 0, fmt.Errorf("%s: key id %d out of order (want %d)", path, l.ID, len(kt.keys))
		}
		kt.keys = append(kt.keys, l.Key)
		kt.ids[l.Key] = l.ID
		kt.loaded += int64(i + 1)
		data = data[i+1:]
	}
	return kt.loaded, nil
}

// add appends a new key to the file and the table.
func (kt *keyTable) add(f *os.File, k Key) (uint32, error) {
	id := uint32(len(kt.keys))
	line, err := json.Marshal(keyLine{ID: id, Key: k})
	if err != nil {
		return 0, err
	}
	line = append(line, '\n')
	if _, err := f.Write(line); err != nil {
		return 0, fmt.Errorf("append to key table: %w", err)
	}
	kt.keys = append(kt.keys, k)
	kt.ids[k] = id
	kt.loaded += int64(len(line))
	return id, nil
}
