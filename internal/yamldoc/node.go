package yamldoc

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Kind is the shape of a node.
type Kind int

// The kinds of node. Aliases are resolved while parsing: an alias is the
// very node its anchor names.
const (
	Scalar Kind = iota + 1
	Mapping
	Sequence
)

// Scalar tags, as YAML 1.2's core schema resolves plain scalars.
const (
	TagStr   = "!!str"
	TagInt   = "!!int"
	TagFloat = "!!float"
	TagBool  = "!!bool"
	TagNull  = "!!null"
)

// coreFloat is the float of YAML 1.2's core schema, for the forms with an
// exponent that the parser leaves as strings.
var coreFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$`)

// Node is one value of a document with its position.
type Node struct {
	Kind    Kind
	Tag     string  // scalars: TagStr, TagInt, ... or an explicit tag as written
	Value   string  // scalars: the text; a string's after unquoting
	Content []*Node // mappings: key, value, key, value...; sequences: items
	Line    int     // 1-based
	Col     int     // 1-based, in characters
	num     any     // int64, uint64 or float64 for TagInt and TagFloat
}

// IsNull reports whether the node is an empty value ("key:" or "~").
func (n *Node) IsNull() bool { return n.Kind == Scalar && n.Tag == TagNull }

// Int64 returns the value of a whole number that fits an int64.
func (n *Node) Int64() (int64, bool) {
	switch v := n.num.(type) {
	case int64:
		return v, n.Tag == TagInt
	case uint64:
		return int64(v), n.Tag == TagInt && v <= 1<<63-1
	}
	return 0, false
}

// Uint64 returns the value of a whole number from 0 to 2^64-1.
func (n *Node) Uint64() (uint64, bool) {
	switch v := n.num.(type) {
	case int64:
		return uint64(v), n.Tag == TagInt && v >= 0
	case uint64:
		return v, n.Tag == TagInt
	}
	return 0, false
}

// Float64 returns the value of a number.
func (n *Node) Float64() (float64, bool) {
	switch v := n.num.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

// Describe names a node for error messages: "a list", "the number 80".
func Describe(n *Node) string {
	switch n.Kind {
	case Mapping:
		return "a mapping"
	case Sequence:
		return "a list"
	}
	switch n.Tag {
	case TagNull:
		return "an empty value"
	case TagStr:
		return fmt.Sprintf("the string %q", n.Value)
	case TagInt, TagFloat:
		return "the number " + n.Value
	case TagBool:
		return n.Value
	}
	return fmt.Sprintf("%s %q", n.Tag, n.Value)
}

// Parse reads src, the text of file, and returns the root node of its one
// document: nil when the document is empty. A syntax error, or a second
// document, is returned as an *Error with its position and a hint.
func Parse(file string, src []byte) (root *Node, err *Error) {
	defer func() {
		// A YAML parser fed hostile input has panicked before; a bad file
		// must never crash the CLI.
		if r := recover(); r != nil {
			root, err = nil, Errorf(Pos{File: file}, "", "cannot parse YAML: %v", r)
		}
	}()
	// Duplicate keys are the decoders' to report: they report all of them,
	// with where the first one is.
	f, perr := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if perr != nil {
		return nil, syntaxError(file, src, perr)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if len(docs) > 1 {
		pos := Pos{File: file}
		if d := docs[1]; d.Start != nil {
			pos.Line, pos.Col = d.Start.Position.Line, d.Start.Position.Column
		} else if tk := d.Body.GetToken(); tk != nil {
			pos.Line, pos.Col = tk.Position.Line, tk.Position.Column
		}
		return nil, Errorf(pos, `remove the "---" separator and everything after it`,
			"a file holds one YAML document, this is a second one")
	}
	c := &converter{file: file, anchors: map[string]*Node{}}
	root = c.node(docs[0].Body, nil)
	return root, c.err
}

// converter turns goccy's syntax tree into Nodes, resolving aliases.
type converter struct {
	file    string
	anchors map[string]*Node
	err     *Error
}

// node converts n; at is the position to use when n has no token of its
// own (an empty value).
func (c *converter) node(n ast.Node, at *token.Token) *Node {
	switch n := n.(type) {
	case nil:
		return c.scalar(at, TagNull, "", nil)
	case *ast.MappingNode:
		if g, ok := c.glued(n.Values); ok && !n.IsFlowStyle {
			return g
		}
		out := &Node{Kind: Mapping}
		c.place(out, n.Start)
		for i, kv := range n.Values {
			k := c.node(kv.Key, kv.Start)
			if i == 0 && !n.IsFlowStyle {
				out.Line, out.Col = k.Line, k.Col // a block mapping is where its first key is
			}
			out.Content = append(out.Content, k, c.node(kv.Value, kv.Start))
		}
		return out
	case *ast.MappingValueNode:
		if g, ok := c.glued([]*ast.MappingValueNode{n}); ok {
			return g
		}
		k := c.node(n.Key, n.Start)
		return &Node{Kind: Mapping, Line: k.Line, Col: k.Col, Content: []*Node{k, c.node(n.Value, n.Start)}}
	case *ast.SequenceNode:
		out := &Node{Kind: Sequence}
		c.place(out, n.Start)
		for _, v := range n.Values {
			out.Content = append(out.Content, c.node(v, n.Start))
		}
		return out
	case *ast.MappingKeyNode:
		return c.node(n.Value, n.Start)
	case *ast.AnchorNode:
		v := c.node(n.Value, n.Start)
		c.anchors[n.Name.GetToken().Value] = v
		return v
	case *ast.AliasNode:
		name := n.Value.GetToken().Value
		if v, ok := c.anchors[name]; ok {
			return v
		}
		out := c.scalar(n.Start, TagNull, "", nil)
		c.fail(out, "define the anchor (&"+name+") before the alias that uses it", "unknown anchor %q", name)
		return out
	case *ast.TagNode:
		return c.tagged(n)
	case *ast.LiteralNode:
		return c.scalar(n.Start, TagStr, n.Value.Value, nil)
	case *ast.StringNode:
		if n.Token.Type == token.StringType && coreFloat.MatchString(n.Value) {
			// YAML 1.2's core schema reads 1e6 as a number; the parser
			// leaves it a string.
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return c.scalar(n.Token, TagFloat, n.Value, f)
			}
		}
		return c.scalar(n.Token, TagStr, n.Value, nil)
	case *ast.IntegerNode:
		return c.scalar(n.Token, TagInt, n.Token.Value, n.Value)
	case *ast.FloatNode:
		return c.scalar(n.Token, TagFloat, n.Token.Value, n.Value)
	case *ast.InfinityNode:
		return c.scalar(n.Token, TagFloat, n.Token.Value, n.Value)
	case *ast.NanNode:
		return c.scalar(n.Token, TagFloat, n.Token.Value, nil)
	case *ast.BoolNode:
		return c.scalar(n.Token, TagBool, n.Token.Value, nil)
	case *ast.NullNode:
		if n.Token.Type == token.ImplicitNullType {
			return c.scalar(n.Token, TagNull, "", nil) // "key:" with nothing after it
		}
		return c.scalar(n.Token, TagNull, n.Token.Value, nil)
	case *ast.MergeKeyNode:
		return c.scalar(n.Token, TagStr, n.Token.Value, nil)
	}
	out := c.scalar(n.GetToken(), TagNull, "", nil)
	c.fail(out, "", "unsupported YAML (%s)", n.Type())
	return out
}

// tagged applies an explicit tag: "!!str 80" is the string "80".
func (c *converter) tagged(n *ast.TagNode) *Node {
	v := c.node(n.Value, n.Start)
	tag := n.Start.Value
	if v.Kind != Scalar || tag == v.Tag {
		return v
	}
	out := *v
	out.Tag, out.num = tag, nil
	c.place(&out, n.Start) // the value starts at its tag
	switch tag {
	case TagStr:
		if tk := n.Value.GetToken(); tk != nil && v.Tag != TagNull {
			out.Value = tk.Value
		}
	case TagInt:
		if i, err := strconv.ParseInt(v.Value, 0, 64); err == nil {
			out.num = i
		} else {
			c.fail(&out, "", "%q is not a whole number", v.Value)
		}
	case TagFloat:
		if f, err := strconv.ParseFloat(v.Value, 64); err == nil {
			out.num = f
		} else {
			c.fail(&out, "", "%q is not a number", v.Value)
		}
	}
	return &out
}

func (c *converter) scalar(tk *token.Token, tag, value string, num any) *Node {
	out := &Node{Kind: Scalar, Tag: tag, Value: value, num: num}
	c.place(out, tk)
	return out
}

func (c *converter) place(n *Node, tk *token.Token) {
	if tk != nil && tk.Position != nil {
		n.Line, n.Col = tk.Position.Line, tk.Position.Column
	}
}

// fail records the first conversion problem; Parse returns it.
func (c *converter) fail(n *Node, hint, format string, args ...any) {
	if c.err == nil {
		c.err = Errorf(Pos{File: c.file, Line: n.Line, Col: n.Col}, hint, format, args...)
	}
}
