package plan

import (
	"fmt"
	"io"
	"strings"
)

// Describe writes what `shaper apply --dry-run` shows for one shaped
// direction: the plan as a tree, the tc commands that build the same state
// on dev, and the changes against the kernel as it is now (ch, from Diff).
// A nil plan is a monitor-only direction.
func Describe(w io.Writer, p *Plan, dev string, ch Changes) {
	if p == nil {
		fmt.Fprintln(w, "egress: monitor-only (classified and counted, not shaped)")
	} else {
		fmt.Fprintf(w, "egress plan:\n%s\n", Indent(p.String()))
		fmt.Fprintln(w, "equivalent tc commands:")
		for _, c := range p.TCCommands(dev) {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	fmt.Fprintf(w, "changes against the kernel now:\n%s\n", Indent(ch.String()))
}

// Indent indents every line of s by two spaces (and drops a final newline).
func Indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ")
}
