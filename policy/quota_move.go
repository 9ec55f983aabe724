package policy

import "slices"

// WithQuotasSpent returns a copy of p in which every app named in spent
// is moved to its quota's then class, in each direction its quota counts
// where then is a leaf class (validation makes sure that includes every
// tree that places the app). p itself is left as it is, so the policy as
// written can be restored when the period ends. The copy is for Apply, not
// for Validate: its then classes now hold the apps they name.
func (p *Policy) WithQuotasSpent(spent map[string]bool) *Policy {
	if len(spent) == 0 {
		return p
	}
	out := *p
	out.Interfaces = make([]Interface, len(p.Interfaces))
	for i, it := range p.Interfaces {
		it.Egress = moveSpent(it.Egress, "egress", p.Apps, spent)
		it.Ingress = moveSpent(it.Ingress, "ingress", p.Apps, spent)
		out.Interfaces[i] = it
	}
	return &out
}

// moveSpent returns a copy of d with the spent apps moved; d itself when
// nothing moves.
func moveSpent(d *Direction, dir string, apps []App, spent map[string]bool) *Direction {
	if d == nil {
		return nil
	}
	var cp *Direction
	for _, a := range apps {
		q := a.Quota
		if q == nil || !spent[a.Name] || !q.Counts(dir) {
			continue
		}
		if c := d.Class(q.Then); c == nil || !c.Leaf() {
			continue
		}
		if cp == nil {
			cp = d.clone()
		}
		cp.Walk(func(c, _ *Class) {
			if i := slices.Index(c.Apps, a.Name); i >= 0 {
				c.Apps = slices.Delete(c.Apps, i, i+1)
				if i < len(c.AppsPos) {
					c.AppsPos = slices.Delete(c.AppsPos, i, i+1)
				}
			}
		})
		then := cp.Class(q.Then)
		then.Apps = append(then.Apps, a.Name)
		then.AppsPos = append(then.AppsPos, Pos{})
	}
	if cp == nil {
		return d
	}
	return cp
}

// clone copies the direction's class tree, so that changing the copy's
// classes leaves d's alone.
func (d *Direction) clone() *Direction {
	cp := *d
	cp.Classes = cloneClasses(d.Classes)
	return &cp
}

func cloneClasses(cs []Class) []Class {
	if cs == nil {
		return nil
	}
	out := make([]Class, len(cs))
	for i, c := range cs {
		c.Apps = slices.Clone(c.Apps)
		c.AppsPos = slices.Clone(c.AppsPos)
		c.Classes = cloneClasses(c.Classes)
		out[i] = c
	}
	return out
}
