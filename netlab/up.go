package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"
)

// Lab is a lab that is up.
type Lab struct {
	name string
	topo *Topology
	opts options

	mu    sync.Mutex
	procs map[int]*exec.Cmd // daemons this process started, reaped on Down
}

// Option changes how Up works.
type Option func(*options)

type options struct {
	progress    io.Writer
	name        string
	ospfTimeout time.Duration

	// failStep and failErr make Up fail after the named step has run:
	// the tests' way to check what a failure leaves (export_test.go).
	failStep string
	failErr  error
}

// WithProgress writes one line per step of Up to w.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// WithName overrides the lab's name, so that tests run a shipped topology
// under a unique name.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithOSPFTimeout bounds the wait for OSPF adjacencies (default 60 s).
func WithOSPFTimeout(d time.Duration) Option { return func(o *options) { o.ospfTimeout = d } }

// Name is the lab's name.
func (l *Lab) Name() string { return l.name }

// Topology is what the lab was built from.
func (l *Lab) Topology() *Topology { return l.topo }

// Netns is the network namespace of a node.
func (l *Lab) Netns(node string) string { return NetnsName(l.name, node) }

// Addr returns the IPv4 address of a node's interface (the zero prefix if
// it has none).
func (l *Lab) Addr(node, iface string) netip.Prefix { return l.addr(node, iface, true) }

// Addr6 returns the IPv6 address of a node's interface.
func (l *Lab) Addr6(node, iface string) netip.Prefix { return l.addr(node, iface, false) }

func (l *Lab) addr(node, iface string, v4 bool) netip.Prefix {
	for _, ep := range l.topo.Interfaces(node) {
		if ep.Iface != iface {
			continue
		}
		for _, a := range ep.Addrs {
			if a.Addr().Is4() == v4 {
				return a
			}
		}
	}
	return netip.Prefix{}
}

// Up builds the lab: namespaces, links, addresses, routes, FRR. Running it
// again on a lab that is up with the same topology only repairs what is
// missing. When a step fails, everything built so far is removed.
func Up(ctx context.Context, topo *Topology, opts ...Option) (*Lab, error) {
	o := options{progress: io.Discard, ospfTimeout: 60 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	t := *topo
	if o.name != "" {
		t.Name = o.name
	}
	if err := ValidLabName(t.Name); err != nil {
		return nil, err
	}
	l := &Lab{name: t.Name, topo: &t, opts: o, procs: map[int]*exec.Cmd{}}
	st := &state{Name: t.Name, Hash: topoHash(&t), Created: time.Now().UTC(), Topology: &t}
	for _, n := range t.Nodes {
		st.Netns = append(st.Netns, l.Netns(n.Name))
	}
	old, err := readState(t.Name)
	switch {
	case err == nil && old.Hash != st.Hash:
		return nil, badInput("lab %s is up with a different topology: run `shaper lab down %s` first", t.Name, t.Name)
	case err == nil:
		l.progressf("lab %s is up: checking every part\n", t.Name)
	case errors.Is(err, errNotUp):
		if err := checkFree(st.Netns); err != nil {
			return nil, err
		}
		if err := writeState(st); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	steps := []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"namespaces", l.upNamespaces},
		{"links", l.upLinks},
		{"routes", l.upRoutes},
		{"ospf", l.upFRR},
	}
	for i, s := range steps {
		start := time.Now()
		l.progressf("lab %s: [%d/%d] %s ... ", t.Name, i+1, len(steps), s.name)
		msg, err := s.run(ctx)
		if err == nil {
			err = ctx.Err()
		}
		if err == nil && s.name == o.failStep {
			err = o.failErr
		}
		if err != nil {
			l.progressf("failed\n")
			if derr := l.Down(); derr != nil {
				return nil, fmt.Errorf("lab %s: %s: %w (and removing it: %v)", t.Name, s.name, err, derr)
			}
			return nil, fmt.Errorf("lab %s: %s: %w (removed what was built)", t.Name, s.name, err)
		}
		l.progressf("%s (%.2fs)\n", msg, time.Since(start).Seconds())
	}
	return l, nil
}

func (l *Lab) progressf(format string, args ...any) { fmt.Fprintf(l.opts.progress, format, args...) }

// checkFree refuses to build over a namespace that is not ours.
func checkFree(names []string) error {
	for _, ns := range names {
		if netns.Exists(ns) {
			return fmt.Errorf("network namespace %s already exists and is not part of this lab: remove it (ip netns del %s) or rename the lab", ns, ns)
		}
	}
	return nil
}

// Open returns a lab that is up, from its record.
func Open(name string) (*Lab, error) {
	st, err := readState(name)
	if err != nil {
		if errors.Is(err, errNotUp) {
			return nil, badInput("%v", err)
		}
		return nil, err
	}
	st.Topology.Name = st.Name
	return &Lab{name: st.Name, topo: st.Topology, procs: map[int]*exec.Cmd{}, opts: options{progress: io.Discard}}, nil
}

func (l *Lab) upNamespaces(ctx context.Context) (string, error) {
	var created atomic.Int32
	err := forEach(ctx, l.topo.Nodes, func(n *Node) error {
		ns := l.Netns(n.Name)
		if !netns.Exists(ns) {
			if err := netns.Create(ns); err != nil {
				return err
			}
			created.Add(1)
		}
		return netns.Run(ns, func() error { return setupNode(l.name, n) })
	})
	c := int(created.Load())
	return fmt.Sprintf("%d created, %d present", c, len(l.topo.Nodes)-c), err
}

// setupNode runs inside the node's namespace: loopback up, no IPv6
// duplicate address detection (addresses work at once), forwarding on
// routers, the bridge of a switch.
func setupNode(lab string, n *Node) error {
	sysctls := map[string]string{
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
	}
	if n.Kind == KindRouter {
		sysctls["net/ipv4/ip_forward"] = "1"
		sysctls["net/ipv6/conf/all/forwarding"] = "1"
	}
	for k, v := range sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	if n.Kind != KindSwitch {
		return nil
	}
	if _, err := netlink.LinkByName(bridgeName); err == nil {
		return nil
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: n.MTU}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", bridgeName, err)
	}
	if err := netlink.LinkSetAlias(br, "shaper-lab "+lab+" "+n.Name); err != nil {
		return fmt.Errorf("label bridge: %w", err)
	}
	return netlink.LinkSetUp(br)
}

// handleAt opens a netlink handle inside a named namespace.
func handleAt(ns string) (*netlink.Handle, error) {
	nsh, err := vns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", ns, err)
	}
	return h, nil
}

// forEach runs fn for every item on up to four goroutines and returns the
// first error; after an error (or when ctx ends) it starts no more.
func forEach[T any](ctx context.Context, items []T, fn func(T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, it := range items {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(it)
		})
	}
	return g.Wait()
}
