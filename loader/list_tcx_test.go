package loader

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// fakeTCX makes TCX queries fail with err and the probe answer have, for
// the rest of the test.
func fakeTCX(t *testing.T, err error, have bool) *int {
	t.Helper()
	q, h := queryTCX, haveTCX
	probes := 0
	queryTCX = func(link.QueryOptions) (*link.QueryResult, error) {
		return nil, fmt.Errorf("query programs: %w", err)
	}
	haveTCX = func() bool { probes++; return have }
	t.Cleanup(func() { queryTCX, haveTCX = q, h })
	return &probes
}

// Before 6.6 a TCX query answers EINVAL: on such a kernel (the probe says
// no TCX) that is "nothing attached"; where TCX exists it is an error.
func TestListTCXEinval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		have    bool
		wantErr bool
	}{
		{"einval without tcx", unix.EINVAL, false, false},
		{"einval with tcx", unix.EINVAL, true, true},
		{"not supported", ebpf.ErrNotSupported, true, false},
		{"eperm without tcx", unix.EPERM, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeTCX(t, tc.err, tc.have)
			got, err := listTCX(2, Egress, testPrefix)
			if tc.wantErr {
				if err == nil || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), "query tcx egress programs of ifindex 2") {
					t.Fatalf("listTCX = %v, %v; want the query error with context", got, err)
				}
				return
			}
			if err != nil || len(got) != 0 {
				t.Fatalf("listTCX = %v, %v; want nothing attached", got, err)
			}
		})
	}
}

// The probe runs only when a query failed with EINVAL: a working query
// never pays for it.
func TestListTCXProbesOnlyOnEinval(t *testing.T) {
	probes := fakeTCX(t, unix.ENODEV, false)
	if _, err := listTCX(2, Ingress, testPrefix); !errors.Is(err, unix.ENODEV) {
		t.Fatalf("listTCX error %v, want ENODEV", err)
	}
	if *probes != 0 {
		t.Errorf("probed %d times for ENODEV, want 0", *probes)
	}
}

// With the EINVAL injected into the real kernel's answers, RemoveStale on
// the clsact path (what apply, delete and status run) works where TCX is
// missing and still fails where it exists.
func TestRemoveStaleTCXEinval(t *testing.T) {
	ns, ifindex := newNetnsDummy(t)
	p := newProg(t, "shaper_tc", nil, -1)
	a := Attachment{Ifindex: ifindex, Ifname: "d0", Dir: Egress, Prog: p, PinPath: PinDir(ns, "d0", Egress)}
	in(t, ns, func() error {
		if err := (TC{}).Attach(a); err != nil {
			return err
		}
		defer func() { _ = (TC{}).Detach(a) }()

		fakeTCX(t, unix.EINVAL, true)
		if _, err := RemoveStale(TC{}, a, testPrefix); !errors.Is(err, unix.EINVAL) {
			t.Errorf("with tcx: RemoveStale error %v, want EINVAL", err)
		}
		fakeTCX(t, unix.EINVAL, false)
		removed, err := RemoveStale(TC{}, a, testPrefix)
		if err != nil || len(removed) != 0 {
			t.Fatalf("without tcx: RemoveStale = %v, %v; want nothing removed, no error", removed, err)
		}
		ours, err := Ours(ifindex, testPrefix)
		if err != nil {
			return err
		}
		if got := kinds(ours); !sameMap(got, map[string]bool{"tc/egress/shaper_tc": true}) {
			t.Errorf("without tcx: Ours = %v, want our tc filter", got)
		}
		return nil
	})
}
