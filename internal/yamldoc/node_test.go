package yamldoc

import (
	"strings"
	"testing"
)

// flat renders a node tree as text with each value's tag and position.
func flat(n *Node) string {
	switch n.Kind {
	case Mapping, Sequence:
		open, end := "{", "}"
		if n.Kind == Sequence {
			open, end = "[", "]"
		}
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = flat(c)
		}
		return open + strings.Join(parts, " ") + end + posOf(n)
	}
	return n.Tag + ":" + n.Value + posOf(n)
}

func posOf(n *Node) string { return "@" + Pos{Line: n.Line, Col: n.Col}.String() }

func TestParseNodes(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a: 1", "{!!str:a@1:1 !!int:1@1:4}@1:1"},
		{"a:\n  - x\n  - 'y'\n", "{!!str:a@1:1 [!!str:x@2:5 !!str:y@3:5]@2:3}@1:1"},
		{"a: {b: [fd00::1, 2001:db8::/32, x]}", "{!!str:a@1:1 {!!str:b@1:5 [!!str:fd00::1@1:9 !!str:2001:db8::/32@1:18 !!str:x@1:33]@1:8}@1:4}@1:1"},
		{"a: [{b: 1}]", "{!!str:a@1:1 [{!!str:b@1:6 !!int:1@1:9}@1:5]@1:4}@1:1"},
		{"a:\nb: ~", "{!!str:a@1:1 !!null:@1:3 !!str:b@2:1 !!null:~@2:4}@1:1"},
		{"a: !!str 80\nb: 0x50\nc: 1.5\nd: true", "{!!str:a@1:1 !!str:80@1:4 !!str:b@2:1 !!int:0x50@2:4 !!str:c@3:1 !!float:1.5@3:4 !!str:d@4:1 !!bool:true@4:4}@1:1"},
		{"a: &x [1]\nb: *x", "{!!str:a@1:1 [!!int:1@1:8]@1:7 !!str:b@2:1 [!!int:1@1:8]@1:7}@1:1"},
		{"a: 1e3\nb: '1e3'\nc: 1.5E-2\nd: 1e", "{!!str:a@1:1 !!float:1e3@1:4 !!str:b@2:1 !!str:1e3@2:4 !!str:c@3:1 !!float:1.5E-2@3:4 !!str:d@4:1 !!str:1e@4:4}@1:1"},
		{"a: |\n  text\n", "{!!str:a@1:1 !!str:text\n@1:4}@1:1"},
	}
	for _, tt := range tests {
		root, err := Parse("f", []byte(tt.src))
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if got := flat(root); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

func TestParseEdges(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "a: 1\n---\n"} {
		root, err := Parse("f", []byte(src))
		if src == "a: 1\n---\n" {
			if err != nil || root == nil {
				t.Errorf("%q: root %v, error %v; an empty second document is harmless", src, root, err)
			}
			continue
		}
		if root != nil || err != nil {
			t.Errorf("%q: root %v, error %v; want an empty document", src, root, err)
		}
	}
	if _, err := Parse("f", []byte("a: *nope\n")); err == nil || !strings.Contains(err.Error(), `unknown anchor "nope"`) {
		t.Errorf("unknown anchor: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	root, err := Parse("f", []byte("[80, -1, 18446744073709551615, 1.5, x]"))
	if err != nil {
		t.Fatal(err)
	}
	c := root.Content
	if v, ok := c[0].Int64(); !ok || v != 80 {
		t.Errorf("80: %v %v", v, ok)
	}
	if _, ok := c[1].Uint64(); ok {
		t.Error("-1 read as a uint64")
	}
	if v, ok := c[2].Uint64(); !ok || v != 18446744073709551615 {
		t.Errorf("2^64-1: %v %v", v, ok)
	}
	if _, ok := c[2].Int64(); ok {
		t.Error("2^64-1 read as an int64")
	}
	if v, ok := c[3].Float64(); !ok || v != 1.5 {
		t.Errorf("1.5: %v %v", v, ok)
	}
	if _, ok := c[4].Float64(); ok || Describe(c[4]) != `the string "x"` || Describe(root) != "a list" {
		t.Errorf("x: %s", Describe(c[4]))
	}
}
