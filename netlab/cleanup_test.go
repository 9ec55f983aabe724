package netlab_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// assertGone checks, rather than assumes, that nothing of a lab is left:
// no namespace, no record, no FRR process, no interface labelled with its
// name in the root namespace or in any other named namespace.
func assertGone(t *testing.T, lab string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab+"-") {
			t.Errorf("namespace %s is left after down", e.Name())
			continue
		}
		// Other namespaces (other tests' too) must hold no veth end of ours.
		out, err := exec.Command("ip", "-n", e.Name(), "-o", "link", "show").Output()
		if err == nil && strings.Contains(string(out), "shaper-lab "+lab+" ") {
			t.Errorf("namespace %s holds links of %s:\n%s", e.Name(), lab, out)
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

// Two OSPF routers and a host: every step of Up builds something.
const ospfPair = `
name: fail
addressing: auto
kinds:
  router: {ospf: true}
  host: {routes: [{to: default, via: auto}]}
nodes: {r1: {kind: router}, r2: {kind: router}, h: {}}
links: [[r1, r2], [r2, h]]
`

// A failure at any step of Up removes everything built so far (namespaces,
// veths, routes, FRR daemons, the record) and says so.
func TestUpFailureCleansUp(t *testing.T) {
	labtest.Root(t)
	topo, err := netlab.Parse("fail.yaml", []byte(ospfPair))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range netlab.Steps {
		t.Run(step, func(t *testing.T) {
			name := labtest.UniqueName("lt-")
			injected := errors.New("injected failure")
			lab, err := netlab.Up(context.Background(), topo, netlab.WithName(name), netlab.WithStepFailure(step, injected))
			if err == nil {
				_ = lab.Down()
				t.Fatalf("up succeeded although step %s was made to fail", step)
			}
			t.Cleanup(func() { _ = netlab.DownByName(name) }) // should find nothing
			if !errors.Is(err, injected) || !strings.Contains(err.Error(), step+": ") || !strings.Contains(err.Error(), "removed what was built") {
				t.Errorf("error should name the step %s, wrap its cause and say the lab was removed: %v", step, err)
			}
			assertGone(t, name)
		})
	}
}
