package policy

import (
	"errors"
	"io"
	"os"
	"strconv"

	"github.com/shaperdev/shaper/internal/yamldoc"
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
// problem found, sorted by position, each quoting its line of data.
func Parse(file string, data []byte) (*Policy, error) {
	d := &decoder{yamldoc.NewDecoder(file, maxValues)}
	p := d.document(data)
	if p != nil && !d.Exhausted() { // a tree cut short would mislead validation
		v := &validator{bad: d.Bad}
		v.policy(p)
		d.Errs = append(d.Errs, v.errs...)
	}
	if err := finish(d.Errs).Report(file, data); err != nil {
		return nil, err
	}
	return p, nil
}

// decoder walks the YAML tree so that every value keeps its line and
// column, and collects every error instead of stopping at the first.
type decoder struct{ *yamldoc.Decoder }

// document decodes the YAML text into a policy, or returns nil after
// recording why there is none.
func (d *decoder) document(data []byte) *Policy {
	root, err := yamldoc.Parse(d.File, data)
	switch {
	case err != nil:
		d.Errs = append(d.Errs, err)
		return nil
	case root == nil:
		d.Errs = append(d.Errs, errorf(Pos{File: d.File, Line: 1, Col: 1}, `start with "version: 1"`, "the policy is empty"))
		return nil
	}
	return d.policy(root)
}

// oneOrMany decodes a value that may be given once or as a non-empty list
// ("dport: 80" or "dport: [80, 443]").
func (d *decoder) oneOrMany(n *yamldoc.Node, what string) []*yamldoc.Node {
	if n.Kind != yamldoc.Sequence {
		if !d.Spend(n) {
			return nil
		}
		return []*yamldoc.Node{n}
	}
	if len(n.Content) == 0 {
		d.Fail(n, "leave the key out to match anything", "%s is an empty list, which would match nothing", what)
		return nil
	}
	return d.Items(n)
}

// text returns the text of a scalar that may be written as a number or a
// string ("1540" and 1540, "100mbit"), with YAML number syntax (0x600,
// 1e6) turned into plain decimals.
func (d *decoder) text(n *yamldoc.Node, what string) (string, bool) {
	if n.Kind == yamldoc.Scalar {
		switch n.Tag {
		case yamldoc.TagStr:
			return n.Value, true
		case yamldoc.TagInt:
			if v, ok := n.Uint64(); ok {
				return strconv.FormatUint(v, 10), true
			}
			d.Fail(n, "", "%s %s is out of range", what, n.Value)
			return "", false
		case yamldoc.TagFloat:
			if v, ok := n.Float64(); ok && v >= 0 && v < 1e300 {
				return strconv.FormatFloat(v, 'f', -1, 64), true
			}
			d.Fail(n, "", "%s %s is out of range", what, n.Value)
			return "", false
		}
	}
	d.Fail(n, "", "%s must be a number or a string, not %s", what, yamldoc.Describe(n))
	return "", false
}
