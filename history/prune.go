package history

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// prune deletes files past their tier's retention, then the oldest files
// while the store is larger than MaxSize. The files being written stay.
// It runs at Open and at the first Record of every hour.
func (s *Store) prune() error {
	now := max(s.o.Now().Unix(), s.st.T)
	keep := []time.Duration{s.o.RawRetention, s.o.FineRetention, s.o.Retention}
	var all []tierFile
	total := int64(0)
	for lvl, tr := range tiers {
		fs, err := tr.files(s.dir)
		if err != nil {
			return fmt.Errorf("list history: %w", err)
		}
		cut := now - int64(keep[lvl]/time.Second)
		for _, f := range fs {
			if f.end <= cut && f.path != s.w.paths[lvl] {
				if err := remove(f.path); err != nil {
					return err
				}
				continue
			}
			total += f.size
			if !slices.Contains(s.w.paths[:], f.path) {
				all = append(all, f)
			}
		}
	}
	for _, name := range append([]string{keysFile}, stateFiles[:]...) {
		if info, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			total += info.Size()
		}
	}
	slices.SortStableFunc(all, func(a, b tierFile) int { return int(a.end - b.end) })
	for _, f := range all {
		if total <= s.o.MaxSize {
			break
		}
		if err := remove(f.path); err != nil {
			return err
		}
		total -= f.size
	}
	return nil
}

func remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}
