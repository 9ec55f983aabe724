package shaper

import (
	"fmt"
	"io"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper/plan"
)

// progPrefix names our tc programs, so that status and stale-attachment
// removal can tell them from other programs on the hook.
const progPrefix = "shaper_"

// describe prints, for --dry-run, the plan as a tree, the equivalent tc
// commands, the changes against the kernel as it is, and the classifier
// rules. It only reads the kernel.
func (j *job) describe(w io.Writer, link netlink.Link, mode string) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	cur, err := readTree(h, link)
	if err != nil {
		return err
	}
	cur.Foreign = j.rootIsForeign()
	ch := plan.Diff(j.egress, cur)
	if j.egress == nil && !(j.prev != nil && j.prev.Interface.Egress.Shaped()) {
		ch = nil // monitor-only never removes a root it did not install
	}
	plan.Describe(w, j.egress, j.iface.Name, ch)
	fmt.Fprintf(w, "qdisc and classes: %s\n", qdiscKind(ch))
	j.describeIngress(w)
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		if t, ok := j.tables[dir]; ok {
			fmt.Fprintf(w, "%s classifier: %d selectors (%d multi-field), %d map entries, default class %s: %s\n",
				dir, len(t.Sel), len(t.MultiIdx), t.Entries(), plan.HandleString(t.Default.ClassID),
				j.rulesKind(link, dir, t, mode))
		}
	}
	return nil
}

// qdiscKind says what kind of change ch is, for --dry-run.
func qdiscKind(ch plan.Changes) string {
	switch {
	case len(ch) == 0:
		return "unchanged"
	case slices.ContainsFunc(ch, func(c plan.Change) bool { return c.Op == plan.OpDeleteRoot }):
		return "root rebuild (the root qdisc is replaced: what it queued is dropped)"
	case ch.RebuildsRoot():
		return "new root qdisc and classes"
	}
	return fmt.Sprintf("%d class change(s) in place (handles kept, no packet dropped)", len(ch))
}

// rulesKind says, read-only, what applying t to the hook will do: the
// fast path's test (engine_fast.go) without its writes.
func (j *job) rulesKind(link netlink.Link, dir loader.Direction, t *classify.Tables, mode string) string {
	var prev *loader.Loaded
	if j.prev != nil {
		prev = j.prev.Loaded[dir.String()]
	}
	const load = "program load and attach (verify, then an atomic swap)"
	if !prev.SameProgram(j.knobs(dir, loader.LinkKindOf(link)), mode) {
		return load
	}
	c, err := loader.OpenPinned(loader.PinDir(j.netns, j.iface.Name, dir))
	if err != nil {
		return load
	}
	defer c.Close()
	if ok, err := c.Runs(mode, loader.Attachment{Ifindex: link.Attrs().Index, Ifname: j.iface.Name, Dir: dir, PinPath: loader.PinDir(j.netns, j.iface.Name, dir)}, prev.ProgID); err != nil || !ok {
		return load + ": the hook drifted from the record"
	}
	if gen, err := c.Gen(); err == nil && gen == prev.Gen && prev.Gens[gen] == loader.TablesHash(t) {
		return "unchanged"
	}
	if !c.Fits(t) {
		return load + ": the address tables must grow"
	}
	return "map update only (a generation flip: no program reload)"
}
