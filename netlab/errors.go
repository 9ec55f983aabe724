package netlab

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a topology file.
type Problem struct {
	Pos Pos
	Msg string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// TopologyError lists every problem found in a topology file. It is the
// user's input that is wrong: BadInput reports true (exit code 2).
type TopologyError struct {
	Problems []Problem
}

func (e *TopologyError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// BadInput marks the error as the user's: the CLI exits with code 2.
func (e *TopologyError) BadInput() bool { return true }

// problems collects errors while decoding and validating.
type problems struct{ list []Problem }

func (p *problems) add(pos Pos, format string, args ...any) {
	p.list = append(p.list, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) empty() bool { return len(p.list) == 0 }

// err returns the problems sorted by position, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].Pos, p.list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return &TopologyError{Problems: p.list}
}

// inputError is a user error without a file position (a lab name on the
// command line, a lab that is not up).
type inputError struct{ msg string }

func (e *inputError) Error() string  { return e.msg }
func (e *inputError) BadInput() bool { return true }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}
