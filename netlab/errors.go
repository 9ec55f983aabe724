package netlab

import (
	"fmt"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// TopologyError lists every problem found in a topology file, sorted by
// position, each quoting its line. It is the user's input that is wrong:
// BadInput reports true (exit code 2).
type TopologyError = yamldoc.List

// problems collects the errors of the checks that run after decoding.
type problems struct{ list yamldoc.List }

func (p *problems) add(pos Pos, format string, args ...any) {
	p.list = append(p.list, yamldoc.Errorf(pos, "", format, args...))
}

func (p *problems) empty() bool { return len(p.list) == 0 }

// unknownNodeHint names the node a misspelt name likely means, or the
// nodes there are.
func unknownNodeHint(t *Topology, name string) string {
	names := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		names[i] = n.Name
	}
	if s := yamldoc.Suggest(name, names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "declare it under nodes: (known: " + nodeNames(t) + ")"
}

// inputError is a user error without a file position (a lab name on the
// command line, a lab that is not up).
type inputError struct{ msg string }

func (e *inputError) Error() string  { return e.msg }
func (e *inputError) BadInput() bool { return true }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}
