package shaper

import (
	"os"
	"testing"

	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// attachModes is what a test that runs once per attach mode runs: tcx and
// tc where the kernel has TCX, else tc only (the fallback every such
// kernel gets). SHAPER_TEST_TCX=yes|no states what the machine has; the
// test fails when the probe disagrees, so a broken probe cannot quietly
// turn the tcx runs off.
func attachModes(t *testing.T) []string {
	t.Helper()
	labtest.Root(t)
	p := loader.ProbeTCX()
	if want := os.Getenv("SHAPER_TEST_TCX"); want != "" && p.Supported != (want == "yes") {
		t.Fatalf("SHAPER_TEST_TCX=%s but the probe says supported=%v: %s", want, p.Supported, p.Reason)
	}
	if !p.Supported {
		t.Logf("no tcx here (%s): testing the clsact fallback only", p.Reason)
		return []string{loader.ModeTC}
	}
	return []string{loader.ModeTCX, loader.ModeTC}
}
