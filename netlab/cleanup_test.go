package netlab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab"
)

// assertGone checks, rather than assumes, that nothing of a lab is left:
// no namespace, no record, no FRR process, no interface labelled with its
// name in the root namespace.
func assertGone(t *testing.T, lab string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab+"-") {
			t.Errorf("namespace %s is left after down", e.Name())
		}
	}
	if out, err := exec.Command("ip", "-all", "netns", "list").Output(); err == nil && strings.Contains(string(out), lab+"-") {
		t.Errorf("ip netns still lists namespaces of %s:\n%s", lab, out)
	}
	if _, err := os.Stat(filepath.Join(netlab.StateRoot, lab)); !os.IsNotExist(err) {
		t.Errorf("state of %s is left after down (%v)", lab, err)
	}
	if out, err := exec.Command("pgrep", "-a", "-f", filepath.Join(netlab.StateRoot, lab)+"/").Output(); err == nil {
		t.Errorf("processes of %s are left after down:\n%s", lab, out)
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil && strings.Contains(string(out), lab) {
		t.Errorf("root namespace has links named after %s:\n%s", lab, out)
	}
}
