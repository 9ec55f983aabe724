package history

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// tier is one level of the store: raw samples, or roll-ups of a fixed
// step. Each tier keeps one file per period (a UTC day or month), so that
// retention deletes whole files and a read opens only the files of its
// interval.
type tier struct {
	name   string // directory under the store
	step   int64  // bucket seconds; 0 for raw samples
	layout string // file name of a period, a time layout
	month  bool   // periods are months, else days
}

// The tiers, finest first; levels index this slice.
var tiers = []tier{
	{name: "raw", layout: "2006-01-02"},
	{name: "5m", step: 300, layout: "2006-01-02"},
	{name: "1h", step: 3600, layout: "2006-01", month: true},
}

const (
	levelRaw = iota
	level5m
	level1h
)

// period is the UTC day or month holding t: [start, end).
func (tr tier) period(t int64) (start, end int64) {
	u := time.Unix(t, 0).UTC()
	if tr.month {
		s := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		return s.Unix(), s.AddDate(0, 1, 0).Unix()
	}
	s := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	return s.Unix(), s.AddDate(0, 0, 1).Unix()
}

// path is the file of the period holding t.
func (tr tier) path(dir string, t int64) string {
	return filepath.Join(dir, tr.name, time.Unix(t, 0).UTC().Format(tr.layout)+".dat")
}

// tierFile is one file of a tier on disk.
type tierFile struct {
	path       string
	start, end int64
	size       int64
}

// files lists the tier's files, oldest first. Names that are not a period
// are left alone.
func (tr tier) files(dir string) ([]tierFile, error) {
	ents, err := os.ReadDir(filepath.Join(dir, tr.name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []tierFile
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".dat")
		if !ok || e.IsDir() {
			continue
		}
		p, err := time.Parse(tr.layout, base)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // deleted meanwhile by the writer's retention
		}
		s, end := tr.period(p.Unix())
		out = append(out, tierFile{path: filepath.Join(dir, tr.name, e.Name()), start: s, end: end, size: info.Size()})
	}
	slices.SortFunc(out, func(a, b tierFile) int { return int(a.start - b.start) })
	return out, nil
}

// read visits the tier's entries with from <= t < to.
func (tr tier) read(dir string, from, to int64, v visitor) error {
	if from >= to {
		return nil
	}
	fs, err := tr.files(dir)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.end <= from || f.start >= to {
			continue
		}
		if err := readBlocks(f.path, from, to, v); err != nil {
			return err
		}
	}
	return nil
}

func alignDown(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

func alignUp(t, step int64) int64 {
	d := alignDown(t, step)
	if d < t {
		d += step
	}
	return d
}
