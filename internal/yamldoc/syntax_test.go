package yamldoc

import (
	"strings"
	"testing"
)

// Each broken document must be reported at its culprit, with the line
// quoted and a caret under the column.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the whole error
	}{
		{"unclosed bracket", "version: 1\napps:\n  - name: web\n    match: [{proto: tcp, dport: 443}\ninterfaces:\n  - name: eth0\n", `
p.yaml:4:12: invalid YAML: the list opened here with '[' is never closed; add ']' where the list ends, before line 5
  4 |     match: [{proto: tcp, dport: 443}
    |            ^`},
		{"unclosed bracket at the end", "name: x\nnodes: [\n", `
p.yaml:2:8: invalid YAML: the list opened here with '[' is never closed; add ']' where the list ends
  2 | nodes: [
    |        ^`},
		{"unclosed brace", "a: {b: 1\nc: 2\n", `
p.yaml:1:4: invalid YAML: the mapping opened here with '{' is never closed; add '}' where the mapping ends, before line 2
  1 | a: {b: 1
    |    ^`},
		{"key indented too deep", "version: 1\napps:\n  - name: web\n     match: {proto: tcp}\n", `
p.yaml:4:6: invalid YAML: this key is indented more than the key above it; line it up with "name" on line 3 (column 5)
  4 |      match: {proto: tcp}
    |      ^`},
		{"key indented too little", "version: 1\napps:\n  - name: web\n   match: {proto: tcp}\n", `
p.yaml:4:4: invalid YAML: this line is not indented like the lines above it; line it up with "name" on line 3 (column 5)
  4 |    match: {proto: tcp}
    |    ^`},
		{"tab indentation", "version: 1\napps:\n\t- name: web\n", `
p.yaml:3:1: invalid YAML: this line is indented with a tab; YAML indents with spaces only: replace the tab with spaces
  3 | 	- name: web
    | ^`},
		{"tab after spaces", "version: 1\napps:\n  - name: web\n  \tmatch: {proto: tcp}\n", `
p.yaml:4:3: invalid YAML: this line is indented with a tab; YAML indents with spaces only: replace the tab with spaces
  4 |   	match: {proto: tcp}
    |   ^`},
		{"unterminated double quote", "version: 1\napps:\n  - name: \"web\n    match: {proto: tcp}\n", `
p.yaml:3:11: invalid YAML: the string opened here with " is never closed; add the closing " at the end of the string
  3 |   - name: "web
    |           ^`},
		{"unterminated single quote", "a: 1\nb: 'x\n", `
p.yaml:2:4: invalid YAML: the string opened here with ' is never closed; add the closing ' at the end of the string
  2 | b: 'x
    |    ^`},
		{"key inside a value", "a: b: c\n", `
p.yaml:1:4: invalid YAML: a key cannot start inside this value; put the key on a line of its own, or quote the value if the ': ' belongs to it
  1 | a: b: c
    |    ^`},
		{"wrong closer", "a: [1, 2}\n", `
p.yaml:1:9: invalid YAML: '}' does not close the '[' opened before it; write ']' to close the '[' at line 1, column 4
  1 | a: [1, 2}
    |         ^`},
		{"wrong closer inside a mapping", "a: {b: [1}\n", `
p.yaml:1:10: invalid YAML: '}' does not close the '[' opened before it; write ']' to close the '[' at line 1, column 8
  1 | a: {b: [1}
    |          ^`},
		{"closer that closes nothing", "a: [b, c]]\n", `
p.yaml:1:10: invalid YAML: this ']' closes nothing; remove it, or add the '[' it should close
  1 | a: [b, c]]
    |          ^`},
		{"key beside list items", "a:\n  - b\n  c: 1\n", `
p.yaml:3:3: invalid YAML: a key cannot stand beside list items at the same indentation; make it an item ("- c: 1") or indent it like the keys of the mapping it belongs to
  3 |   c: 1
    |   ^`},
		{"second document", "a: 1\n---\nb: 2\n", `
p.yaml:2:1: a file holds one YAML document, this is a second one; remove the "---" separator and everything after it
  2 | ---
    | ^`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := Parse("p.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; root %+v", root)
			}
			l := List{err}
			l.Quote("p.yaml", []byte(tt.src))
			if got, want := l.Error(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
