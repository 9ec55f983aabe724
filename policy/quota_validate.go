package policy

import (
	"fmt"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// quotaTree is one direction tree a quota's then class must be a leaf of.
type quotaTree struct {
	where string     // `egress of "eth0"`, for messages
	dir   *Direction //
	class string     // the app's class there; "" when the tree does not place it
}

// quotaTrees are the trees a quota's then class must be a leaf of: every
// tree of a counted direction that places the app in a class; when none
// does (the app goes to default classes), every counted tree with classes.
func (p *Policy) quotaTrees(a *App) []quotaTree {
	var placed, all []quotaTree
	for i := range p.Interfaces {
		it := &p.Interfaces[i]
		for _, dd := range []struct {
			name string
			d    *Direction
		}{{"egress", it.Egress}, {"ingress", it.Ingress}} {
			if dd.d == nil || len(dd.d.Classes) == 0 || !a.Quota.Counts(dd.name) {
				continue
			}
			t := quotaTree{where: fmt.Sprintf("%s of %q", dd.name, it.Name), dir: dd.d, class: dd.d.AppClass()[a.Name]}
			all = append(all, t)
			if t.class != "" {
				placed = append(placed, t)
			}
		}
	}
	if len(placed) > 0 {
		return placed
	}
	return all
}

// quotas checks that each quota's then class can take the app: a leaf
// class of the same direction wherever the app is placed.
func (v *validator) quotas(p *Policy) {
	for i := range p.Apps {
		a := &p.Apps[i]
		if a.Quota == nil || a.Quota.Then == "" || v.bad[a.Quota.ThenPos] {
			continue
		}
		trees := p.quotaTrees(a)
		if len(trees) == 0 {
			v.add(a.Quota.ThenPos, "a quota moves its app to another class: give the app's interfaces classes in the quota's direction ("+
				quotaDirs(a.Quota)+")", "app %q has a quota, but no interface has classes in its direction to move it to", a.Name)
			continue
		}
		for _, t := range trees {
			if v.quotaTree(a, t) {
				break // one error per quota: the position is the same
			}
		}
	}
}

// quotaTree reports whether it found a problem with a's then class in t.
func (v *validator) quotaTree(a *App, t quotaTree) bool {
	q := a.Quota
	var leaves []string
	for _, c := range t.dir.Leaves() {
		if c.Name != t.class { // the class it leaves is no place to go
			leaves = append(leaves, c.Name)
		}
	}
	hint := "the app moves there once its volume is used; name a leaf class of " + t.where + ": " + yamldoc.QuoteList(leaves)
	placed := ""
	if t.class != "" {
		placed = fmt.Sprintf(", where app %q is in class %q", a.Name, t.class)
	}
	c := t.dir.Class(q.Then)
	switch {
	case c == nil:
		v.add(q.ThenPos, hint, "quota then class %q does not exist in %s%s", q.Then, t.where, placed)
	case !c.Leaf():
		v.add(q.ThenPos, hint, "quota then class %q of %s has child classes", q.Then, t.where)
	case q.Then == t.class:
		v.add(q.ThenPos, "name a slower class for the app once its volume is used",
			"quota then class %q is the class app %q is in already (%s): the quota would change nothing", q.Then, a.Name, t.where)
	default:
		return false
	}
	return true
}

func quotaDirs(q *Quota) string {
	switch q.Direction {
	case QuotaUp:
		return "up: egress"
	case QuotaDown:
		return "down: ingress"
	}
	return "both: egress or ingress"
}
