package loader

import (
	"testing"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// The probe answers, and says why; whether it says yes depends on the
// kernel (6.4+: yes), which ingress tests assert against real traffic.
func TestProbeIFBRedirect(t *testing.T) {
	labtest.Root(t)
	p := ProbeIFBRedirect()
	t.Logf("supported=%v: %s", p.Supported, p.Reason)
	if p.Reason == "" {
		t.Fatal("no reason given")
	}
}
