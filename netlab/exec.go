package netlab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/shaperdev/shaper/internal/netns"
)

// Command returns a command that runs argv inside a node's namespace, for
// servers and anything the caller wants to manage itself. It enters only
// the network namespace (nsenter --net), unlike `ip netns exec` which also
// remounts /sys and so hides bpffs.
func (l *Lab) Command(ctx context.Context, node string, argv ...string) *exec.Cmd {
	args := append([]string{"--net=" + netns.Path(l.Netns(node)), "--"}, argv...)
	return exec.CommandContext(ctx, "nsenter", args...)
}

// Exec runs argv inside a node and returns its combined output; the error
// carries the output too.
func (l *Lab) Exec(ctx context.Context, node string, argv ...string) ([]byte, error) {
	if l.topo.Node(node) == nil {
		return nil, badInput("lab %s has no node %q (nodes: %s)", l.name, node, nodeNames(l.topo))
	}
	if len(argv) == 0 {
		return nil, badInput("give a command to run in %s", node)
	}
	out, err := l.Command(ctx, node, argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), node, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
