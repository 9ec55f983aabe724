package plan

import (
	"os/exec"
	"strings"
	"testing"
)

// The planner is pure: no netlink, no eBPF, no raw system calls, so that it
// runs and tests anywhere without privileges. This fails when anything it
// imports, even indirectly, brings one of them in.
func TestPlanImportsNoKernelPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/shaperdev/shaper/shaper/plan").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := []string{
		"github.com/vishvananda/netlink",
		"github.com/florianl/go-tc",
		"github.com/mdlayher/netlink",
		"github.com/cilium/ebpf",
		"golang.org/x/sys/unix",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list -deps printed too little to trust: %q", out)
	}
	for _, d := range deps {
		for _, b := range banned {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("shaper/plan imports %s (directly or through another package): move the kernel access to package shaper", d)
			}
		}
	}
}
