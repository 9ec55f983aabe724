package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one thing wrong with a policy: where, what, and what to do.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string // what to do about it; may be empty
}

// Error prints "file:line:col: msg; hint".
func (e *Error) Error() string {
	var b strings.Builder
	if at := e.Pos.String(); at != "" {
		b.WriteString(at)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// BadInput marks the error as the user's: the CLI exits with code 2.
func (e *Error) BadInput() bool { return true }

// Errors is every problem found in a policy, sorted by position.
type Errors []*Error

// Error prints one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// BadInput marks the errors as the user's: the CLI exits with code 2.
func (es Errors) BadInput() bool { return true }

// Unwrap lets errors.As find an individual *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// String prints "file:line:col", leaving out the parts that are unknown.
func (p Pos) String() string {
	var parts []string
	if p.File != "" {
		parts = append(parts, p.File)
	}
	if p.Line > 0 {
		parts = append(parts, fmt.Sprint(p.Line))
		if p.Col > 0 {
			parts = append(parts, fmt.Sprint(p.Col))
		}
	}
	return strings.Join(parts, ":")
}

// at is a short "line L, column C" for hints that point at another place in
// the same file.
func (p Pos) at() string {
	if p.Line == 0 {
		return "elsewhere"
	}
	return fmt.Sprintf("line %d, column %d", p.Line, p.Col)
}

func errorf(pos Pos, hint, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// finish sorts the errors by position and drops all but the first error at
// any one position: a second complaint about the same value is nearly always
// a consequence of the first. It returns nil when there are none.
func (es Errors) finish() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := es[:0:0]
	for i, e := range es {
		if i > 0 && e.Pos.Line > 0 && e.Pos == es[i-1].Pos {
			continue
		}
		out = append(out, e)
	}
	return out
}

// suggest returns the option closest to word when it is close enough to be
// a likely typo, or "".
func suggest(word string, options []string) string {
	best, bestDist := "", -1
	for _, o := range options {
		d := editDistance(strings.ToLower(word), strings.ToLower(o))
		if bestDist < 0 || d < bestDist {
			best, bestDist = o, d
		}
	}
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	if bestDist < 0 || bestDist > limit || bestDist >= len(word) {
		return ""
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// neighbours that turn a into b (optimal string alignment distance): "wbe"
// is one typo away from "web". Long inputs are not compared: names are
// short and a fuzzed one may not be.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// quoteList renders names as `"a", "b" and "c"` for hints.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return "(none)"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
