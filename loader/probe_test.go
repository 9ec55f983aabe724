package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/netlab/labtest"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
		{"tcx", ModeTCX, false},
		{" TC ", ModeTC, false},
		{"bogus", "", true},
		{"tc,tcx", "", true},
	} {
		got, err := parseMode(tc.in)
		var bad interface{ BadInput() bool }
		if tc.bad {
			if !errors.As(err, &bad) || !bad.BadInput() {
				t.Errorf("parseMode(%q) error %v, want a BadInput error", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{Egress: "egress", Ingress: "ingress", 7: "direction(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

func TestPinDir(t *testing.T) {
	for _, tc := range []struct {
		ns, ifname string
		dir        Direction
		want       string
	}{
		{"", "eth0", Egress, "/sys/fs/bpf/shaper/@root/eth0/egress"},
		{"host", "eth0", Egress, "/sys/fs/bpf/shaper/host/eth0/egress"},
		{"@root", "eth0", Egress, "/sys/fs/bpf/shaper/%40root/eth0/egress"},
		{"lab1", "veth0", Ingress, "/sys/fs/bpf/shaper/lab1/veth0/ingress"},
		{"a.b", "eth0.100", Egress, "/sys/fs/bpf/shaper/a%2eb/eth0%2e100/egress"},
		{"x%2e", "..", Egress, "/sys/fs/bpf/shaper/x%252e/%2e%2e/egress"},
	} {
		if got := PinDir(tc.ns, tc.ifname, tc.dir); got != tc.want {
			t.Errorf("PinDir(%q, %q, %s) = %q, want %q", tc.ns, tc.ifname, tc.dir, got, tc.want)
		}
	}
}

// tcxHere says whether this kernel has TCX, by the probe: tests that need
// TCX check the clsact fallback instead where it is missing. The test
// machine may state what it has (SHAPER_TEST_TCX=yes|no; the VM tier on
// 6.1 sets no), and then a probe that disagrees fails the test.
func tcxHere(t *testing.T) bool {
	t.Helper()
	labtest.Root(t)
	p := ProbeTCX()
	switch want := os.Getenv("SHAPER_TEST_TCX"); want {
	case "yes", "no":
		if p.Supported != (want == "yes") {
			t.Fatalf("SHAPER_TEST_TCX=%s but the probe says supported=%v: %s", want, p.Supported, p.Reason)
		}
	case "":
	default:
		t.Fatalf("SHAPER_TEST_TCX=%q: want yes, no or unset", want)
	}
	if !p.Supported {
		t.Logf("no tcx here, testing the clsact fallback: %s", p.Reason)
	}
	return p.Supported
}

func TestChoose(t *testing.T) {
	have := tcxHere(t)
	a, why, err := ChooseWithReason("auto")
	if err != nil {
		t.Fatal(err)
	}
	want, says := ModeTC, "falling back to legacy tc"
	if have {
		want, says = ModeTCX, "private netns"
	}
	if a.Name() != want {
		t.Errorf("auto chose %s (%s), want %s on this kernel", a.Name(), why, want)
	}
	if !strings.Contains(why, says) {
		t.Errorf("reason %q does not say %q", why, says)
	}
	for mode, want := range map[string]string{"tcx": ModeTCX, "tc": ModeTC} {
		if a, err := Choose(mode); err != nil || a.Name() != want {
			t.Errorf("Choose(%q) = %v, %v; want %s", mode, a, err, want)
		}
	}
	_, err = Choose("bogus")
	var bad interface{ BadInput() bool }
	if !errors.As(err, &bad) || !bad.BadInput() {
		t.Errorf("Choose(bogus) error %v, want a BadInput error", err)
	}
}

func TestEnsureBPFFSIdempotent(t *testing.T) {
	labtest.Root(t)
	for range 2 {
		if err := EnsureBPFFS(""); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := isBPFFS(BPFFSRoot); err != nil || !ok {
		t.Errorf("%s is not bpffs after EnsureBPFFS: %v", BPFFSRoot, err)
	}
}

// In a private mount namespace (on a thread thrown away afterwards),
// EnsureBPFFS mounts an absent bpffs once and leaves it alone after.
func TestEnsureBPFFSMountsWhenAbsent(t *testing.T) {
	labtest.Root(t)
	dir := filepath.Join(t.TempDir(), "bpf")
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread and its mount ns die
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			done <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			done <- err
			return
		}
		if ok, _ := isBPFFS(dir); ok {
			done <- errors.New("bpffs there before the test")
			return
		}
		for range 2 {
			if err := EnsureBPFFS(dir); err != nil {
				done <- err
				return
			}
		}
		if ok, err := isBPFFS(dir); err != nil || !ok {
			done <- errors.New("not bpffs after EnsureBPFFS")
			return
		}
		done <- countMounts(dir)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// countMounts fails unless exactly one filesystem is mounted at dir in the
// calling thread's mount namespace.
func countMounts(dir string) error {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%d mounts at %s, want 1", n, dir)
	}
	return nil
}
