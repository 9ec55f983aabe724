package yamldoc

import (
	"fmt"
	"slices"
)

// Decoder walks nodes, collecting every problem instead of stopping at the
// first, and bounds how many values a document may expand to: aliases can
// make a small file describe an enormous tree.
type Decoder struct {
	File   string
	Errs   List
	Bad    map[Pos]bool // values already reported: later checks leave them alone
	budget int          // mappings and list items left
	limit  int
}

// NewDecoder returns a decoder for file that accepts up to limit mappings
// and list items.
func NewDecoder(file string, limit int) *Decoder {
	return &Decoder{File: file, Bad: map[Pos]bool{}, budget: limit, limit: limit}
}

// Pos is where n stands.
func (d *Decoder) Pos(n *Node) Pos { return Pos{File: d.File, Line: n.Line, Col: n.Col} }

// Fail records an error at n and marks the value as bad.
func (d *Decoder) Fail(n *Node, hint, format string, args ...any) {
	p := d.Pos(n)
	d.Bad[p] = true
	d.Errs = append(d.Errs, Errorf(p, hint, format, args...))
}

// FailErr records err at n; an error with a separate hint (a units.Error)
// keeps it.
func (d *Decoder) FailErr(n *Node, err error) {
	if e, ok := err.(interface{ Parts() (string, string) }); ok {
		msg, hint := e.Parts()
		d.Fail(n, hint, "%s", msg)
		return
	}
	d.Fail(n, "", "%v", err)
}

// Exhausted reports whether the document was cut short: checks of the
// whole would mislead.
func (d *Decoder) Exhausted() bool { return d.budget < 0 }

// Spend charges one value to the budget; false once it is exhausted.
func (d *Decoder) Spend(n *Node) bool {
	d.budget--
	if d.budget == -1 {
		d.Fail(n, "expand fewer aliases, or split the file", "the file is too large: more than %d values", d.limit)
	}
	return d.budget >= 0
}

// Entry is one key and its value.
type Entry struct {
	Key     string
	KeyNode *Node
	Value   *Node
}

// Entries decodes a mapping whose keys are names, reporting keys that are
// not names and keys given twice; an empty value is an empty mapping. ok is
// false when n is not a mapping.
func (d *Decoder) Entries(n *Node, what string) (entries []Entry, ok bool) {
	if n.IsNull() {
		return nil, true
	}
	if n.Kind != Mapping {
		d.Fail(n, "", "%s must be a mapping (key: value), not %s", what, Describe(n))
		return nil, false
	}
	if !d.Spend(n) {
		return nil, false
	}
	first := map[string]*Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != Scalar || k.IsNull() {
			d.Fail(k, "", "a key in %s must be a name, not %s", what, Describe(k))
			continue
		}
		if f, dup := first[k.Value]; dup {
			d.Fail(k, "the first is at "+d.Pos(f).LineCol(), "%q is given twice in %s", k.Value, what)
			continue
		}
		first[k.Value] = k
		entries = append(entries, Entry{Key: k.Value, KeyNode: k, Value: v})
	}
	return entries, true
}

// Fields is a decoded mapping with known keys.
type Fields struct {
	Node    *Node
	Entries []Entry // known keys, in the order they are written
	byKey   map[string]Entry
}

// Get returns the value of key, or nil when it is absent.
func (f Fields) Get(key string) *Node {
	if e, ok := f.byKey[key]; ok {
		return e.Value
	}
	return nil
}

// Mapping decodes a mapping whose keys must be among known, reporting
// unknown keys (with a "did you mean" when one is close) and keys given
// twice. An empty value counts as an empty mapping.
func (d *Decoder) Mapping(n *Node, what string, known ...string) (Fields, bool) {
	f := Fields{Node: n, byKey: map[string]Entry{}}
	entries, ok := d.Entries(n, what)
	for _, e := range entries {
		if !slices.Contains(known, e.Key) {
			d.Fail(e.KeyNode, KeyHint(e.Key, known), "unknown key %q in %s", e.Key, what)
			continue
		}
		f.byKey[e.Key] = e
		f.Entries = append(f.Entries, e)
	}
	return f, ok
}

// List decodes a list; an empty value is an empty list.
func (d *Decoder) List(n *Node, what string) []*Node {
	if n == nil || n.IsNull() {
		return nil
	}
	if n.Kind != Sequence {
		d.Fail(n, "", "%s must be a list, not %s", what, Describe(n))
		return nil
	}
	return d.Items(n)
}

// Items returns a sequence's items, charging each to the budget.
func (d *Decoder) Items(n *Node) []*Node {
	out := make([]*Node, 0, len(n.Content))
	for _, it := range n.Content {
		if !d.Spend(it) {
			return out
		}
		out = append(out, it)
	}
	return out
}

// Str decodes a string value. A number or a boolean is refused with a hint
// to quote it: `name: 80` is most likely not meant as a number.
func (d *Decoder) Str(n *Node, what string) (string, bool) {
	if n.Kind == Scalar && n.Tag == TagStr {
		return n.Value, true
	}
	hint := ""
	if n.Kind == Scalar && !n.IsNull() {
		hint = fmt.Sprintf("quote it if you mean the text: %q", n.Value)
	}
	d.Fail(n, hint, "%s must be a string, not %s", what, Describe(n))
	return "", false
}

// Text decodes any scalar but an empty one as the text it is written as:
// for values that may be numbers or names alike ("area: 0", "rate: 1000").
func (d *Decoder) Text(n *Node, what string) (string, bool) {
	if n.Kind == Scalar && !n.IsNull() {
		return n.Value, true
	}
	d.Fail(n, "", "%s must be a string, not %s", what, Describe(n))
	return "", false
}

// Int decodes a whole number.
func (d *Decoder) Int(n *Node, what string) (int64, bool) {
	v, ok := n.Int64()
	if n.Kind != Scalar || !ok {
		d.Fail(n, "", "%s must be a whole number, not %s", what, Describe(n))
		return 0, false
	}
	return v, true
}

// IntIn decodes a whole number from lo to hi.
func (d *Decoder) IntIn(n *Node, what string, lo, hi int64) (int64, bool) {
	v, ok := d.Int(n, what)
	if ok && (v < lo || v > hi) {
		d.Fail(n, fmt.Sprintf("give a number from %d to %d", lo, hi), "%s %d is out of range", what, v)
		return 0, false
	}
	return v, ok
}
