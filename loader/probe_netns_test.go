package loader

import (
	"strings"
	"testing"
)

// The probe attaches in a private namespace of its own (internal/netns
// RunPrivate): on this kernel it must get that far, and say so.
func TestProbeTCXInPrivateNetns(t *testing.T) {
	have := tcxHere(t)
	p := probeTCX() // not ProbeTCX: the cached answer may come from elsewhere
	if p.Supported != have || !strings.Contains(p.Reason, "private netns") {
		t.Errorf("tcx probe: %+v; want supported=%v, found in a private netns", p, have)
	}
}
