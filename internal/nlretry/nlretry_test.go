package nlretry

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestRetriesOnlyInterruptedDumps(t *testing.T) {
	calls := 0
	got, err := List(func() (int, error) {
		calls++
		if calls < 3 {
			return 0, fmt.Errorf("list: %w", netlink.ErrDumpInterrupted)
		}
		return 42, nil
	})
	if err != nil || got != 42 || calls != 3 {
		t.Fatalf("List = %d, %v after %d calls; want 42, nil after 3", got, err, calls)
	}

	other := errors.New("permission denied")
	calls = 0
	if err := Do(func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("Do = %v after %d calls; want the error at once", err, calls)
	}

	calls = 0
	err = Do(func() error { calls++; return netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != Attempts {
		t.Fatalf("Do = %v after %d calls; want interrupted after %d", err, calls, Attempts)
	}
}
