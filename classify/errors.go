package classify

import (
	"fmt"

	"github.com/shaperdev/shaper/policy"
)

// Error is a policy the classifier cannot compile; it is the user's input
// that must change, so BadInput is true (exit code 2).
type Error struct {
	Pos policy.Pos
	App string
	Msg string
}

func (e *Error) Error() string {
	where := ""
	if e.Pos.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d: ", e.Pos.File, e.Pos.Line, e.Pos.Col)
	}
	return fmt.Sprintf("%sapp %q: %s", where, e.App, e.Msg)
}

// BadInput marks the error as the user's to fix.
func (e *Error) BadInput() bool { return true }
