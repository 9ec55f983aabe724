package shaper

import (
	"fmt"
	"io"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper/plan"
)

// progPrefix names our tc programs, so that status and stale-attachment
// removal can tell them from other programs on the hook.
const progPrefix = "shaper_"

// describe prints, for --dry-run, the plan as a tree, the equivalent tc
// commands, the changes against the kernel as it is, and the classifier
// rules. It only reads the kernel.
func (j *job) describe(w io.Writer, link netlink.Link) error {
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
	j.describeIngress(w)
	for _, dir := range []loader.Direction{loader.Egress, loader.Ingress} {
		if t, ok := j.tables[dir]; ok {
			fmt.Fprintf(w, "%s classifier: %d selectors, %d map entries, default class %s\n",
				dir, len(t.Sel), t.Entries(), plan.HandleString(t.Default.ClassID))
		}
	}
	return nil
}
