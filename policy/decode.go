package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// maxValues bounds how many mappings and list items one document may expand
// to: YAML aliases can make a small file describe an enormous tree.
const maxValues = 200_000

// Load reads, decodes and validates the policy file at path ("-" reads
// standard input). Every problem is reported at once, as Errors.
func Load(path string) (*Policy, error) {
	var data []byte
	var err error
	name := path
	if path == "-" {
		name = "<stdin>"
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, Errors{errorf(Pos{File: name}, "", "cannot read the policy: %v", err)}
	}
	return Parse(name, data)
}

// Parse decodes and validates a policy document; file names the source in
// error positions. On any problem it returns nil and Errors holding every
// problem found, sorted by position.
func Parse(file string, data []byte) (*Policy, error) {
	d := &decoder{file: file, bad: map[Pos]bool{}, budget: maxValues}
	root := d.document(data)
	if root == nil {
		return nil, d.errs.finish()
	}
	p := d.policy(root)
	if d.budget < 0 {
		return nil, d.errs.finish() // the tree is cut short: validating it would mislead
	}
	v := &validator{bad: d.bad}
	v.policy(p)
	if err := append(d.errs, v.errs...).finish(); err != nil {
		return nil, err
	}
	return p, nil
}

// decoder walks yaml.Nodes so that every value keeps its line and column,
// and collects every error instead of stopping at the first.
type decoder struct {
	file   string
	errs   Errors
	bad    map[Pos]bool // values already reported: validation leaves them alone
	budget int          // mappings and list items left; see maxValues
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses the YAML text and returns the root node of its only
// document, or nil after recording why there is none.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a policy file must
		// never crash the CLI.
		if r := recover(); r != nil {
			d.errs = append(d.errs, errorf(Pos{File: d.file}, "", "cannot parse YAML: %v", r))
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			d.errs = append(d.errs, errorf(Pos{File: d.file, Line: 1, Col: 1},
				`start with "version: 1"`, "the policy is empty"))
		} else {
			d.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		d.errs = append(d.errs, errorf(d.pos(&next), `remove the "---" separator and everything after it`,
			"a policy file holds one YAML document, this is a second one"))
		return nil
	} else if err != io.EOF {
		d.syntax(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errs = append(d.errs, errorf(Pos{File: d.file, Line: 1, Col: 1}, `start with "version: 1"`, "the policy is empty"))
		return nil
	}
	return doc.Content[0]
}

// syntax records a YAML syntax error, with its line when yaml.v3 gives one.
func (d *decoder) syntax(err error) {
	pos := Pos{File: d.file}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	d.errs = append(d.errs, errorf(pos, "", "invalid YAML: %s", trimYAMLPrefix(msg)))
}

func trimYAMLPrefix(msg string) string {
	if len(msg) > 6 && msg[:6] == "yaml: " {
		return msg[6:]
	}
	return msg
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

// fail records an error at node n and marks the value as bad.
func (d *decoder) fail(n *yaml.Node, hint, format string, args ...any) {
	p := d.pos(n)
	d.bad[p] = true
	d.errs = append(d.errs, errorf(p, hint, format, args...))
}

// failErr records an error from a units parser at node n.
func (d *decoder) failErr(n *yaml.Node, err error) {
	var e *Error
	if errors.As(err, &e) {
		d.fail(n, e.Hint, "%s", e.Msg)
		return
	}
	d.fail(n, "", "%v", err)
}

// spend charges one value to the budget; false once it is exhausted.
func (d *decoder) spend(n *yaml.Node) bool {
	d.budget--
	if d.budget == -1 {
		d.fail(n, "expand fewer aliases, or split the policy", "the policy is too large: more than %d values", maxValues)
	}
	return d.budget >= 0
}

// deref follows YAML aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names a node's kind for error messages: "a list", "the number 80".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "an empty value"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias that cannot be followed"
}

// fields is a decoded mapping: its values and keys by name.
type fields struct {
	node *yaml.Node
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

// get returns the value of key, or nil when it is absent.
func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// mapping decodes a mapping whose keys must be among known, reporting
// unknown (with a "did you mean" when one is close) and repeated keys. An
// empty value counts as an empty mapping.
func (d *decoder) mapping(n *yaml.Node, what string, known ...string) (fields, bool) {
	n = deref(n)
	f := fields{node: n, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if isNull(n) {
		return f, true
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, "", "%s must be a mapping (key: value), not %s", what, describe(n))
		return f, false
	}
	if !d.spend(n) {
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, "", "a key in %s must be a name, not %s", what, describe(k))
			continue
		}
		if !slices.Contains(known, k.Value) {
			d.fail(k, keyHint(k.Value, known), "unknown key %q in %s", k.Value, what)
			continue
		}
		if first, dup := f.keys[k.Value]; dup {
			d.fail(k, "the first is at "+d.pos(first).at(), "%q is given twice in %s", k.Value, what)
			continue
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, true
}

func keyHint(key string, known []string) string {
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "known keys are " + quoteList(known)
}

// list decodes a list; an empty value is an empty list.
func (d *decoder) list(n *yaml.Node, what string) []*yaml.Node {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, "", "%s must be a list, not %s", what, describe(n))
		return nil
	}
	return d.items(n)
}

// oneOrMany decodes a value that may be given once or as a non-empty list
// ("dport: 80" or "dport: [80, 443]").
func (d *decoder) oneOrMany(n *yaml.Node, what string) []*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		if !d.spend(n) {
			return nil
		}
		return []*yaml.Node{n}
	}
	if len(n.Content) == 0 {
		d.fail(n, "leave the key out to match anything", "%s is an empty list, which would match nothing", what)
		return nil
	}
	return d.items(n)
}

func (d *decoder) items(n *yaml.Node) []*yaml.Node {
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, it := range n.Content {
		if !d.spend(it) {
			return out
		}
		out = append(out, deref(it))
	}
	return out
}

// str decodes a string value.
func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return n.Value, true
	}
	hint := ""
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		hint = fmt.Sprintf("quote it if you mean the text: %q", n.Value)
	}
	d.fail(n, hint, "%s must be a string, not %s", what, describe(n))
	return "", false
}

// integer decodes a whole number.
func (d *decoder) integer(n *yaml.Node, what string) (int64, bool) {
	n = deref(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.fail(n, "", "%s must be a whole number, not %s", what, describe(n))
		return 0, false
	}
	return v, true
}

// text returns the text of a scalar that may be written as a number or a
// string ("1540" and 1540, "100mbit"), with YAML number syntax (0x600,
// 1e6) turned into plain decimals.
func (d *decoder) text(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			return n.Value, true
		case "!!int":
			var v uint64
			if n.Decode(&v) == nil {
				return strconv.FormatUint(v, 10), true
			}
		case "!!float":
			var v float64
			if n.Decode(&v) == nil && v >= 0 {
				return strconv.FormatFloat(v, 'f', -1, 64), true
			}
		}
		if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
			d.fail(n, "", "%s %s is out of range", what, n.Value)
			return "", false
		}
	}
	d.fail(n, "", "%s must be a number or a string, not %s", what, describe(n))
	return "", false
}
