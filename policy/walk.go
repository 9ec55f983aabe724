package policy

// Interface returns the interface entry for name in netns ("" = the
// caller's namespace), or nil.
func (p *Policy) Interface(name, netns string) *Interface {
	for i := range p.Interfaces {
		if it := &p.Interfaces[i]; it.Name == name && it.Netns == netns {
			return it
		}
	}
	return nil
}

// App returns the app called name, or nil.
func (p *Policy) App(name string) *App {
	for i := range p.Apps {
		if p.Apps[i].Name == name {
			return &p.Apps[i]
		}
	}
	return nil
}

// AppNames lists the apps in match order.
func (p *Policy) AppNames() []string {
	names := make([]string, len(p.Apps))
	for i, a := range p.Apps {
		names[i] = a.Name
	}
	return names
}

// Walk calls fn for every class of the direction, depth first, parents
// before their children; parent is nil for a top-level class. The pointers
// point into d, so fn may change the classes.
func (d *Direction) Walk(fn func(c, parent *Class)) {
	if d == nil {
		return
	}
	walkClasses(d.Classes, nil, fn)
}

func walkClasses(cs []Class, parent *Class, fn func(c, parent *Class)) {
	for i := range cs {
		fn(&cs[i], parent)
		walkClasses(cs[i].Classes, &cs[i], fn)
	}
}

// Leaves returns the leaf classes (those that carry traffic) in depth-first
// order.
func (d *Direction) Leaves() []*Class {
	var out []*Class
	d.Walk(func(c, _ *Class) {
		if c.Leaf() {
			out = append(out, c)
		}
	})
	return out
}

// Class returns the class called name anywhere in the tree, or nil.
func (d *Direction) Class(name string) *Class {
	var found *Class
	d.Walk(func(c, _ *Class) {
		if found == nil && c.Name == name {
			found = c
		}
	})
	return found
}

// AppClass maps each app named by a class to its leaf class's name.
func (d *Direction) AppClass() map[string]string {
	m := map[string]string{}
	d.Walk(func(c, _ *Class) {
		for _, a := range c.Apps {
			if _, dup := m[a]; !dup {
				m[a] = c.Name
			}
		}
	})
	return m
}
