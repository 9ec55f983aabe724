package policy

import (
	"fmt"
	"math"
	"slices"

	"github.com/shaperdev/shaper/internal/units"
	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Validate checks what no single value shows on its own (names that must be
// unique or must exist, the class tree's rates) and resolves every class's
// Rate.Bits and Ceil.Bits from percentages and inherited ceils. Parse calls
// it; call it yourself on a Policy built in Go. It is idempotent. The syntax
// of single values (units, ports, names) is Parse's job.
func (p *Policy) Validate() error {
	v := &validator{}
	v.policy(p)
	return finish(v.errs).Err()
}

type validator struct {
	errs Errors
	bad  map[Pos]bool // values the decoder already reported
}

func (v *validator) add(pos Pos, hint, format string, args ...any) {
	v.errs = append(v.errs, errorf(pos, hint, format, args...))
}

func (v *validator) policy(p *Policy) {
	apps := map[string]*App{}
	for i := range p.Apps {
		a := &p.Apps[i]
		if a.Name == "" {
			continue
		}
		if first, dup := apps[a.Name]; dup {
			v.add(a.NamePos, "app names must be unique; the first is at "+first.NamePos.LineCol(), "duplicate app %q", a.Name)
			continue
		}
		apps[a.Name] = a
	}
	type key struct{ name, netns string }
	seen := map[key]*Interface{}
	for i := range p.Interfaces {
		it := &p.Interfaces[i]
		if it.Name != "" {
			k := key{it.Name, it.Netns}
			if first, dup := seen[k]; dup {
				where := ""
				if it.Netns != "" {
					where = fmt.Sprintf(" in netns %q", it.Netns)
				}
				v.add(it.NamePos, "merge the two entries; the first is at "+first.NamePos.LineCol(), "interface %q%s is listed twice", it.Name, where)
			} else {
				seen[k] = it
			}
		}
		if it.Egress != nil {
			v.direction(fmt.Sprintf("egress of %q", it.Name), it.Egress, apps)
		}
		if it.Ingress != nil {
			v.direction(fmt.Sprintf("ingress of %q", it.Name), it.Ingress, apps)
		}
	}
	v.quotas(p)
}

// direction checks one direction; where names it in messages.
func (v *validator) direction(where string, d *Direction, apps map[string]*App) {
	if d.TBF != nil && (d.Rate.present() || len(d.Classes) > 0 || d.Default != "") {
		v.add(d.TBF.Pos, "use tbf alone for one limit on all traffic, or rate and classes (HTB) to share it between apps",
			"%s has tbf together with rate, classes or default", where)
	}
	root := limits{rate: d.Rate.Bits, ceil: d.Rate.Bits, what: where}
	if d.Rate.present() && !v.bad[d.Rate.Pos] {
		switch {
		case d.Rate.Percent > 0:
			v.add(d.Rate.Pos, "give the link's speed, like 100mbit; class rates may be percentages of it",
				"the rate of %s cannot be a percentage: it has no parent", where)
		case d.Rate.Bits == 0:
			v.add(d.Rate.Pos, "", "the rate of %s must be above 0", where)
		default:
			root.ok = true
		}
	}
	if len(d.Classes) > 0 && !d.Rate.present() && d.TBF == nil {
		v.add(d.Pos, `add "rate: 100mbit" (the link's speed) next to classes`, "%s has classes but no rate", where)
	}
	v.classes(d.Classes, root)
	v.names(where, d, apps)
	v.defaultClass(where, d)
}

// limits is what a parent lends its children: their percentages are of its
// rate and ceil, and their ceils may not exceed its ceil.
type limits struct {
	rate, ceil uint64
	ok         bool   // rate and ceil are known
	what       string // the parent, for messages
}

func (v *validator) classes(cs []Class, parent limits) {
	var sum uint64
	over := -1 // index of the class whose rate pushes the sum past the parent's
	okRates := make([]bool, len(cs))
	for i := range cs {
		c := &cs[i]
		if !c.Rate.present() {
			v.add(c.Pos, `add e.g. "rate: 10mbit", or "rate: 20%" of the parent's rate`, "class %q has no rate", c.Name)
		}
		okRates[i] = v.resolve(&c.Rate, parent.rate, parent.ok)
		if okRates[i] && c.Rate.Bits == 0 {
			v.add(c.Rate.Pos, "raise the percentage", "the rate of class %q comes to 0 bit/s (%g%% of %s)", c.Name, c.Rate.Percent, units.FormatRate(parent.rate))
			okRates[i] = false
		}
		if okRates[i] && parent.ok {
			if sum > math.MaxUint64-c.Rate.Bits {
				sum = math.MaxUint64
			} else {
				sum += c.Rate.Bits
			}
			if sum > parent.rate && over < 0 {
				over = i
			}
		}
	}
	if over >= 0 {
		v.add(cs[over].Rate.Pos, "lower the rates: a rate is guaranteed, ceil lets a class borrow beyond it",
			"the rates of the classes under %s add up to %s, above its rate %s", parent.what, units.FormatRate(sum), units.FormatRate(parent.rate))
	}
	for i := range cs {
		c := &cs[i]
		ceilOK := v.ceil(c, parent, okRates[i])
		v.classes(c.Classes, limits{rate: c.Rate.Bits, ceil: c.Ceil.Bits, ok: okRates[i] && ceilOK, what: fmt.Sprintf("class %q", c.Name)})
	}
}

// ceil resolves and checks a class's ceil; it reports whether it is known.
func (v *validator) ceil(c *Class, parent limits, rateOK bool) bool {
	if !c.Ceil.present() {
		c.Ceil.Bits = parent.ceil
		if rateOK && parent.ok && c.Rate.Bits > c.Ceil.Bits {
			v.add(c.Rate.Pos, "lower the rate", "the rate %s of class %q is above the ceil %s it inherits from %s",
				units.FormatRate(c.Rate.Bits), c.Name, units.FormatRate(c.Ceil.Bits), parent.what)
		}
		return parent.ok
	}
	if !v.resolve(&c.Ceil, parent.ceil, parent.ok) {
		return false
	}
	if c.Ceil.Bits == 0 {
		v.add(c.Ceil.Pos, "raise the percentage", "the ceil of class %q comes to 0 bit/s", c.Name)
		return false
	}
	if rateOK && c.Ceil.Bits < c.Rate.Bits {
		v.add(c.Ceil.Pos, "ceil is the most a class may take when borrowing: at least its rate",
			"the ceil %s of class %q is below its rate %s", units.FormatRate(c.Ceil.Bits), c.Name, units.FormatRate(c.Rate.Bits))
	}
	if parent.ok && c.Ceil.Bits > parent.ceil {
		v.add(c.Ceil.Pos, "a class borrows from its parent, so it can never go faster than the parent's ceil",
			"the ceil %s of class %q is above the ceil %s of %s", units.FormatRate(c.Ceil.Bits), c.Name, units.FormatRate(parent.ceil), parent.what)
	}
	return true
}

// present reports whether a rate was given (in the file or in Go).
func (r Rate) present() bool { return r.Set || r.Bits > 0 || r.Percent > 0 }

// resolve turns a percentage into bits of base; it reports whether r is
// known afterwards.
func (v *validator) resolve(r *Rate, base uint64, baseOK bool) bool {
	if !r.present() || v.bad[r.Pos] {
		return false
	}
	if r.Percent > 0 {
		if !baseOK {
			return false
		}
		r.Bits = units.PercentOf(base, r.Percent)
		return true
	}
	if r.Bits == 0 {
		v.add(r.Pos, "", "a rate must be above 0")
		return false
	}
	return true
}

// names checks class names and which class each app goes to.
func (v *validator) names(where string, d *Direction, apps map[string]*App) {
	classes := map[string]*Class{}
	appAt := map[string]*Class{}
	d.Walk(func(c, _ *Class) {
		if c.Name != "" {
			if first, dup := classes[c.Name]; dup {
				v.add(c.NamePos, "class names must be unique within a direction; the first is at "+first.NamePos.LineCol(),
					"duplicate class %q in %s", c.Name, where)
			} else {
				classes[c.Name] = c
			}
		}
		for j, a := range c.Apps {
			pos := Pos{}
			if j < len(c.AppsPos) {
				pos = c.AppsPos[j]
			}
			switch first, dup := appAt[a]; {
			case !c.Leaf() && j == 0:
				v.add(pos, "move the apps to one of its leaf classes", "class %q has child classes, so it cannot take apps", c.Name)
			case apps[a] == nil:
				v.add(pos, unknownAppHint(a, apps), "unknown app %q", a)
			case dup:
				v.add(pos, "an app goes to one class per direction", "app %q is already in class %q", a, first.Name)
			default:
				appAt[a] = c
			}
		}
	})
}

func unknownAppHint(name string, apps map[string]*App) string {
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	if s := yamldoc.Suggest(name, names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "define it under apps:"
}

func (v *validator) defaultClass(where string, d *Direction) {
	var leaves []string
	for _, c := range d.Leaves() {
		if c.Name != "" && !slices.Contains(leaves, c.Name) {
			leaves = append(leaves, c.Name)
		}
	}
	hint := "traffic of no listed app goes to the default class; name a leaf class: " + yamldoc.QuoteList(leaves)
	switch {
	case len(d.Classes) == 0:
		if d.Default != "" {
			v.add(d.DefaultPos, "remove default, or add classes", "default class %q, but %s has no classes", d.Default, where)
		}
	case d.Default == "":
		if d.DefaultPos.Line == 0 { // absent, not merely invalid
			v.add(d.Pos, hint, "%s has classes but no default", where)
		}
	default:
		c := d.Class(d.Default)
		if c == nil {
			v.add(d.DefaultPos, hint, "default class %q does not exist", d.Default)
		} else if !c.Leaf() {
			v.add(d.DefaultPos, hint, "default class %q has child classes", d.Default)
		}
	}
}
