package policy

import "github.com/shaperdev/shaper/internal/yamldoc"

// Pos is where a value stands in the source file (1-based).
type Pos = yamldoc.Pos

// Error is one thing wrong with a policy: where, what, and what to do.
type Error = yamldoc.Error

// Errors is every problem found in a policy, sorted by position. It prints
// the first yamldoc.MaxShown of them and how many more there are.
type Errors = yamldoc.List

var errorf = yamldoc.Errorf

// finish sorts the errors by position and drops all but the first error at
// any one position: a second complaint about the same value is nearly
// always a consequence of the first.
func finish(es Errors) Errors {
	es.Sort()
	return es.FirstAtEachPos()
}
