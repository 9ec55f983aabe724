// Package nlretry retries netlink dumps the kernel interrupted because the
// table changed while it was being dumped. An interrupted dump may be
// incomplete, so its answer is thrown away and the dump asked again.
package nlretry

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// Attempts bounds the dumps tried: a table that keeps changing through this
// many dumps is reported with the last error rather than spun on.
const Attempts = 5

// Do runs fn until it returns an error other than an interrupted dump, or
// Attempts times.
func Do(fn func() error) error {
	var err error
	for range Attempts {
		if err = fn(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// List runs a dump that returns a value, retrying it like Do.
func List[T any](fn func() (T, error)) (T, error) {
	var v T
	err := Do(func() error {
		var err error
		v, err = fn()
		return err
	})
	return v, err
}
