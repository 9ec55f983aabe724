package shaper

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper/plan"
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
	want := loader.TablesHash(t)
	knobs := j.knobs(dir, loader.LinkKindOf(link))
	rec, done, err := j.updateInPlace(att, a, knobs, t, want)
	if err != nil {
		return err
	}
	if !done {
		if rec, err = j.loadAndAttach(att, a, knobs, t, want); err != nil {
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
func (j *job) updateInPlace(att loader.Attacher, a loader.Attachment, knobs loader.Knobs, t *classify.Tables, want string) (*loader.Loaded, bool, error) {
	var prev *loader.Loaded
	if j.prev != nil {
		prev = j.prev.Loaded[a.Dir.String()]
	}
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
	// The record holds only while the active generation is the recorded
	// one: an apply that failed after a flip (and was rolled back) left
	// other rules there.
	if gen == prev.Gen {
		if prev.Gens[gen] == want {
			return prev, true, nil
		}
		j.assumeGens(c, prev, a.Dir)
	}
	if !c.Fits(t) {
		return nil, false, nil
	}
	if err := retireApps(c, a.Dir, j.reused, j.retired); err != nil {
		return nil, false, err
	}
	if err := c.Update(t); err != nil {
		return nil, false, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	if err := c.Mirror(t, true); err != nil {
		return nil, false, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	rec, err := c.Record(knobs, att.Name(), prev.ProgID, [bpf.NumGens]string{want, want})
	return rec, err == nil, err
}

// assumeGens tells c what its generations hold, as far as the record
// knows: nothing (fresh maps), or the previous apply's rules, compiled
// again from the state and checked against the recorded digest.
func (j *job) assumeGens(c *loader.Classifier, prev *loader.Loaded, dir loader.Direction) {
	var pt *classify.Tables
	for g, d := range prev.Gens {
		switch {
		case d == "":
		case d == loader.EmptyDigest:
			c.Assume(uint32(g), &classify.Tables{})
		default:
			if pt == nil {
				pt = j.prevTables(dir)
			}
			if pt != nil && loader.TablesHash(pt) == d {
				c.Assume(uint32(g), pt)
			}
		}
	}
}

// prevTables compiles the previous apply's rules for dir from the state,
// as prepare compiled them then; nil when that fails.
func (j *job) prevTables(dir loader.Direction) *classify.Tables {
	p := j.prev
	var egress *plan.Plan
	var err error
	if dir == loader.Egress && p.Interface.Egress != nil {
		if egress, err = plan.Keeping(p.Interface.Egress, p.Minors); err != nil {
			return nil
		}
	}
	if dir == loader.Ingress && p.Interface.Ingress.Shaped() {
		if egress, err = plan.Keeping(p.Interface.Ingress, p.IngressMinors); err != nil {
			return nil
		}
	}
	t, err := classify.Compile(p.Apps, withCgroups(binding(egress, p.AppIDs), j.cgroups))
	if err != nil {
		return nil
	}
	return t
}

// loadAndAttach loads and verifies the program on the pinned maps, writes
// the rules and attaches it, replacing what ran there.
func (j *job) loadAndAttach(att loader.Attacher, a loader.Attachment, knobs loader.Knobs, t *classify.Tables, want string) (*loader.Loaded, error) {
	c, fresh, err := loader.LoadClassifierKnown(knobs, a.PinPath, t)
	if err != nil {
		return nil, fmt.Errorf("load %s classifier: %w", a.Dir, err)
	}
	defer c.Close()
	if err := retireApps(c, a.Dir, j.reused, j.retired); err != nil {
		return nil, err
	}
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
	rec, err := c.Record(knobs, att.Name(), id, [bpf.NumGens]string{})
	if err != nil {
		return nil, fmt.Errorf("%s classifier: %w", a.Dir, err)
	}
	rec.Gens[rec.Gen] = want // the other generation: unknown unless fresh
	if fresh {
		rec.Gens[rec.Gen^1] = loader.EmptyDigest
	}
	return rec, nil
}
