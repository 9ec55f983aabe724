package shaper

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/loader"
)

// applyClassifier gives one hook its rules t, doing as little as the last
// apply (recorded in the state) allows: nothing when the same program
// runs there with the same rules; a map write and a generation flip when
// only the rules changed; a load (verify) and attach only for a new
// program object or knobs, hash tables that must grow, another attach
// mode, or a kernel that drifted from the record (filter or link removed
// by hand, program replaced), which this repairs.
func (j *job) applyClassifier(att loader.Attacher, link netlink.Link, dir loader.Direction, t *classify.Tables) error {
	pin := loader.PinDir(j.netns, j.iface.Name, dir)
	a := loader.Attachment{Ifindex: link.Attrs().Index, Ifname: j.iface.Name, Dir: dir, PinPath: pin}
	rec, done, err := j.updateInPlace(att, a, t)
	if err != nil {
		return err
	}
	if !done {
		if rec, err = j.loadAndAttach(att, a, t); err != nil {
			return err
		}
	}
	if j.loaded == nil {
		j.loaded = map[string]*loader.Loaded{}
	}
	j.loaded[dir.String()] = rec
	return nil
}

// updateInPlace is the fast path: done is false when the program must be
// loaded.
func (j *job) updateInPlace(att loader.Attacher, a loader.Attachment, t *classify.Tables) (*loader.Loaded, bool, error) {
	var prev *loader.Loaded
	if j.prev != nil {
		prev = j.prev.Loaded[a.Dir.String()]
	}
	knobs := j.knobs(a.Dir)
	if !prev.SameProgram(knobs, att.Name()) {
		return nil, false, nil
	}
	c, err := loader.OpenPinned(a.PinPath)
	if err != nil {
		return nil, false, nil // pins gone or incomplete: load afresh
	}
	defer c.Close()
	if ok, err := c.Runs(att.Name(), a, prev.ProgID); err != nil || !ok {
		return nil, false, err
	}
	gen, err := c.Gen()
	if err != nil {
		return nil, false, err
	}
	// The active generation is the one recorded with these rules: an
	// apply that failed after writing (and was rolled back) flipped it.
	if gen == prev.Gen && prev.Tables == loader.TablesHash(t) {
		return prev, true, nil
	}
	if !c.Fits(t) {
		return nil, false, nil
	}
	if err := c.Update(t); err != nil {
		return nil, false, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	rec, err := c.Record(knobs, att.Name(), prev.ProgID, t)
	return rec, err == nil, err
}

// loadAndAttach loads and verifies the program on the pinned maps, writes
// the rules and attaches it, replacing what ran there.
func (j *job) loadAndAttach(att loader.Attacher, a loader.Attachment, t *classify.Tables) (*loader.Loaded, error) {
	knobs := j.knobs(a.Dir)
	c, err := loader.LoadClassifierKnown(knobs, a.PinPath, t)
	if err != nil {
		return nil, fmt.Errorf("load %s classifier: %w", a.Dir, err)
	}
	defer c.Close()
	if err := c.Update(t); err != nil {
		return nil, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	a.Prog = c.Program()
	if err := att.Attach(a); err != nil {
		return nil, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	if _, err := loader.RemoveStale(att, a, progPrefix); err != nil {
		return nil, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	id, err := c.ProgramID()
	if err != nil {
		return nil, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	return c.Record(knobs, att.Name(), id, t)
}
