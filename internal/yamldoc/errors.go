// Package yamldoc reads YAML documents into a tree of nodes that keep their
// line and column, and reports problems as a list of errors that say what,
// where (file:line:col, with the line quoted and a caret under the column)
// and what to do. The policy and the lab topology decoders share it. It is
// pure: no I/O, no syscalls.
package yamldoc

import (
	"fmt"
	"sort"
	"strings"
)

// MaxShown is how many errors a List prints; the rest are counted on one
// line. A file with 30,000 bad values must not print 30,000 lines.
const MaxShown = 20

// Pos is where a value stands in a file (1-based; 0 = unknown).
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
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

// LineCol is a short "line L, column C" for hints that point at another
// place in the same file.
func (p Pos) LineCol() string {
	if p.Line == 0 {
		return "elsewhere"
	}
	return fmt.Sprintf("line %d, column %d", p.Line, p.Col)
}

// Error is one thing wrong with a file: where, what, and what to do.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string // what to do about it; may be empty
	// excerpt is the source line at Pos, set by List.Quote.
	excerpt string
	quoted  bool
}

// Errorf makes an Error.
func Errorf(pos Pos, hint, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// Header prints "file:line:col: msg; hint" on one line.
func (e *Error) Header() string {
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

// Error prints the header and, when the source is known, the line it
// points at with a caret under the column:
//
//	policy.yaml:4:12: invalid YAML: ...; add ']' where the list ends
//	  4 |     match: [{proto: tcp, dport: 443}
//	    |            ^
func (e *Error) Error() string {
	if !e.quoted {
		return e.Header()
	}
	return e.Header() + "\n" + quote(e.Pos.Line, e.Pos.Col, e.excerpt)
}

// BadInput marks the error as the user's: the CLI exits with code 2.
func (e *Error) BadInput() bool { return true }

// List is every problem found in a file.
type List []*Error

// Error prints the first MaxShown errors, one after the other, and how
// many more there are.
func (l List) Error() string {
	shown := l
	if len(l) > MaxShown {
		shown = l[:MaxShown]
	}
	parts := make([]string, len(shown), len(shown)+1)
	for i, e := range shown {
		parts[i] = e.Error()
	}
	if more := len(l) - len(shown); more > 0 {
		noun := "errors"
		if more == 1 {
			noun = "error"
		}
		parts = append(parts, fmt.Sprintf("... and %d more %s", more, noun))
	}
	return strings.Join(parts, "\n")
}

// BadInput marks the errors as the user's: the CLI exits with code 2.
func (l List) BadInput() bool { return true }

// Unwrap lets errors.As find an individual *Error.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Sort orders the errors by position, keeping the order of errors at one
// position.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// FirstAtEachPos drops, from a sorted list, all but the first error at any
// one known position: a second complaint about the same value is nearly
// always a consequence of the first.
func (l List) FirstAtEachPos() List {
	out := l[:0:0]
	for i, e := range l {
		if i > 0 && e.Pos.Line > 0 && e.Pos == l[i-1].Pos {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Quote gives every error in file its source line from src, so that it
// prints the line with a caret.
func (l List) Quote(file string, src []byte) {
	var lines []string
	for _, e := range l {
		if e.Pos.File != file || e.Pos.Line <= 0 {
			continue
		}
		if lines == nil {
			lines = strings.Split(string(src), "\n")
		}
		if e.Pos.Line <= len(lines) {
			e.excerpt, e.quoted = strings.TrimSuffix(lines[e.Pos.Line-1], "\r"), true
		}
	}
}

// Report sorts the list, quotes the lines of file from src and returns the
// list as an error, or nil when it is empty.
func (l List) Report(file string, src []byte) error {
	l.Sort()
	l.Quote(file, src)
	return l.Err()
}

// Err returns the list as an error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
