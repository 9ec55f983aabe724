package shaper

import (
	"errors"
	"fmt"

	"github.com/shaperdev/shaper/policy"
)

// inputError marks an error as the user's input: exit code 2.
type inputError struct{ error }

func (e inputError) Unwrap() error  { return e.error }
func (e inputError) BadInput() bool { return true }

func badInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// joinBadInput joins errors; the result is bad input when every one is.
func joinBadInput(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	joined := errors.Join(errs...)
	for _, e := range errs {
		var b interface{ BadInput() bool }
		if !errors.As(e, &b) || !b.BadInput() {
			return joined
		}
	}
	return inputError{joined}
}

// ifaceError says an interface the policy names is not there.
type ifaceError struct {
	name, netns string
	pos         policy.Pos
}

func (e ifaceError) Error() string {
	where := "this network namespace"
	look := "ip link"
	if e.netns != "" {
		where = "network namespace " + e.netns
		look = "ip -n " + e.netns + " link"
	}
	return fmt.Sprintf("%sinterface %q does not exist in %s: fix the name in the policy or pass --netns (see `%s`)",
		posPrefix(e.pos), e.name, where, look)
}
func (ifaceError) BadInput() bool { return true }

func posString(p policy.Pos) string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

func posPrefix(p policy.Pos) string {
	if s := posString(p); s != "" {
		return s + ": "
	}
	return ""
}
