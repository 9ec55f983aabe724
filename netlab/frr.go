package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shaperdev/shaper/internal/netns"
)

// FRR's daemons, as Debian's frr package installs them.
var frrDir = "/usr/lib/frr"

// ospfRouters lists the routers that run OSPF.
func ospfRouters(t *Topology) []*Node {
	var rs []*Node
	for _, n := range t.Nodes {
		if n.Kind == KindRouter && n.OSPF != nil {
			rs = append(rs, n)
		}
	}
	return rs
}

// ospfIface is one interface of a router as OSPF sees it.
type ospfIface struct {
	ep        *Endpoint
	peers     int // other OSPF routers on the segment
	passive   bool
	p2p       bool
	subnet4   string
	hasSubnet bool
}

func ospfIfaces(t *Topology, segs []*segment, n *Node) []ospfIface {
	var out []ospfIface
	for _, ep := range t.Interfaces(n.Name) {
		s := segmentOf(segs, ep)
		oi := ospfIface{ep: ep}
		if s != nil {
			for _, m := range s.members {
				if m.Node != n.Name && t.Node(m.Node).OSPF != nil {
					oi.peers++
				}
			}
			if s.subnet[0].IsValid() {
				oi.subnet4, oi.hasSubnet = s.subnet[0].String(), true
			}
		}
		oi.passive = oi.peers == 0
		oi.p2p = oi.peers == 1 // no DR election: adjacencies form at once
		out = append(out, oi)
	}
	return out
}

// ospfdConfig is the ospfd.conf of a router: short timers, point-to-point
// where two routers meet (no DR election wait), passive towards hosts.
func ospfdConfig(t *Topology, segs []*segment, n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname %s\n!\n", n.Name)
	ifs := ospfIfaces(t, segs, n)
	for _, oi := range ifs {
		fmt.Fprintf(&b, "interface %s\n ip ospf hello-interval %d\n ip ospf dead-interval %d\n", oi.ep.Iface, n.OSPF.Hello, n.OSPF.Dead)
		if oi.p2p {
			b.WriteString(" ip ospf network point-to-point\n")
		}
		// Retransmit after 1 s, not FRR's 5 s: the ring's adjacencies are
		// full in 2.4-3.1 s instead of 6-7 s (measured).
		b.WriteString(" ip ospf retransmit-interval 1\n!\n")
	}
	b.WriteString("router ospf\n")
	if id := routerID(t, n); id != "" {
		fmt.Fprintf(&b, " ospf router-id %s\n", id)
	}
	b.WriteString(" redistribute static\n")
	for _, oi := range ifs {
		if oi.passive {
			fmt.Fprintf(&b, " passive-interface %s\n", oi.ep.Iface)
		}
	}
	seen := map[string]bool{}
	for _, oi := range ifs {
		if oi.hasSubnet && !seen[oi.subnet4] {
			seen[oi.subnet4] = true
			fmt.Fprintf(&b, " network %s area %s\n", oi.subnet4, n.OSPF.Area)
		}
	}
	b.WriteString("!\n")
	return b.String()
}

// routerID is the router's first IPv4 address (unique in the lab), or an
// id from its position when it has none.
func routerID(t *Topology, n *Node) string {
	for _, ep := range t.Interfaces(n.Name) {
		for _, a := range ep.Addrs {
			if a.Addr().Is4() {
				return a.Addr().String()
			}
		}
	}
	for i, r := range t.Nodes {
		if r == n {
			return fmt.Sprintf("0.0.%d.%d", (i+1)/256, (i+1)%256)
		}
	}
	return ""
}

// expectedNeighbours is how many full adjacencies a converged router has.
func expectedNeighbours(t *Topology, segs []*segment, n *Node) int {
	total := 0
	for _, oi := range ospfIfaces(t, segs, n) {
		total += oi.peers
	}
	return total
}

func (l *Lab) upFRR(ctx context.Context) (string, error) {
	routers := ospfRouters(l.topo)
	if len(routers) == 0 {
		return "none", nil
	}
	daemons := ospfDaemons(l.topo)
	for _, d := range append([]string{"zebra"}, daemons...) {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			return "", fmt.Errorf("ospf needs FRR (%s/zebra, ospfd and, for IPv6, ospf6d): install Debian's frr package: %w", frrDir, err)
		}
	}
	segs := resolvedSegments(l.topo)
	start := time.Now()
	err := forEach(ctx, routers, func(n *Node) error {
		if err := l.startFRR(n, segs, daemons); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, l.opts.ospfTimeout)
	defer cancel()
	err = forEach(ctx, routers, func(n *Node) error {
		want := expectedNeighbours(l.topo, segs, n)
		for _, d := range daemons {
			if err := l.waitOSPF(ctx, n, d, want); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d routers: daemons started in %.1fs, %s adjacencies full %.1fs later",
		len(routers), started.Sub(start).Seconds(), strings.Join(daemons, " and "), time.Since(started).Seconds()), nil
}

// ospfDaemons are the routing daemons of the lab's OSPF routers: ospfd
// (OSPFv2, IPv4), and ospf6d (OSPFv3) when the lab has IPv6 addresses.
func ospfDaemons(t *Topology) []string {
	if wantOSPF6(t) {
		return []string{"ospfd", "ospf6d"}
	}
	return []string{"ospfd"}
}

// startFRR starts zebra and the OSPF daemons in the router's namespace,
// each with its own config, sockets and pid file in the router's state
// folder. They run as FRR's own user (root is not in the frrvty group the
// daemons expect).
func (l *Lab) startFRR(n *Node, segs []*segment, daemons []string) error {
	dir := nodeDir(l.name, n.Name)
	all := append([]string{"zebra"}, daemons...)
	running := true
	for _, d := range all {
		running = running && alive(dir, d)
	}
	if running {
		return nil
	}
	l.stopDaemons(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := chownFRR(dir); err != nil {
		return err
	}
	files := map[string]string{
		"zebra.conf":  fmt.Sprintf("hostname %s\n!\n", n.Name),
		"ospfd.conf":  ospfdConfig(l.topo, segs, n),
		"ospf6d.conf": ospf6dConfig(l.topo, segs, n),
	}
	for _, d := range all {
		if err := os.WriteFile(filepath.Join(dir, d+".conf"), []byte(files[d+".conf"]), 0o644); err != nil {
			return fmt.Errorf("write %s.conf: %w", d, err)
		}
	}
	for _, d := range all {
		if err := l.startDaemon(n, dir, d); err != nil {
			return err
		}
		ready := d + ".vty" // zebra is ready for the others once it serves them
		if d == "zebra" {
			ready = "zserv.api"
		}
		if err := waitFile(filepath.Join(dir, ready), 10*time.Second); err != nil {
			return fmt.Errorf("%s did not start (see %s/%s.log): %w", d, dir, d, err)
		}
	}
	return nil
}

func chownFRR(dir string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("ospf needs FRR's user frr (Debian's frr package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to frr: %w", dir, err)
	}
	return nil
}

// startDaemon runs one FRR daemon in the foreground of a process of its own
// session (so that ^C on `shaper lab up` does not stop it), and records its
// pid in <daemon>.lab.pid.
func (l *Lab) startDaemon(n *Node, dir, daemon string) error {
	out, err := os.OpenFile(filepath.Join(dir, daemon+".out"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s output: %w", daemon, err)
	}
	defer out.Close()
	args := []string{
		"--net=" + netns.Path(l.Netns(n.Name)), "--",
		filepath.Join(frrDir, daemon),
		"-f", filepath.Join(dir, daemon+".conf"),
		"-i", filepath.Join(dir, daemon+".pid"),
		"-z", filepath.Join(dir, "zserv.api"),
		"--vty_socket", dir,
		"-P", "0", // no TCP vty
		"--log", "file:" + filepath.Join(dir, daemon+".log"),
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", daemon, err)
	}
	l.mu.Lock()
	l.procs[cmd.Process.Pid] = cmd
	l.mu.Unlock()
	pidFile := filepath.Join(dir, daemon+".lab.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("record %s pid: %w", daemon, err)
	}
	return nil
}

func waitFile(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOSPF polls an OSPF daemon (ospfd or ospf6d) until the router has as
// many full adjacencies as it has OSPF neighbours.
func (l *Lab) waitOSPF(ctx context.Context, n *Node, daemon string, want int) error {
	dir := nodeDir(l.name, n.Name)
	query := ospfNeighbours
	if daemon == "ospf6d" {
		query = ospf6Neighbours
	}
	have := 0
	for {
		nbrs, err := query(ctx, dir)
		if err == nil {
			have = 0
			for _, nb := range nbrs {
				if strings.HasPrefix(nb.State, "Full") {
					have++
				}
			}
			if have >= want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s on %s: %d of %d neighbours full when the wait ended (%v): see %s/%s.log", daemon, n.Name, have, want, ctx.Err(), dir, daemon)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// OSPFNeighbour is one adjacency of a router, as ospfd reports it.
type OSPFNeighbour struct {
	RouterID string `json:"router_id"`
	State    string `json:"state"`
	Address  string `json:"address"`
	Iface    string `json:"iface"`
}

// ospfNeighbours asks the router's ospfd through its own vty socket.
func ospfNeighbours(ctx context.Context, dir string) ([]OSPFNeighbour, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", dir, "-d", "ospfd", "-c", "show ip ospf neighbor json").Output()
	if err != nil {
		return nil, fmt.Errorf("vtysh show ip ospf neighbor: %w", err)
	}
	var doc struct {
		Neighbors map[string][]struct {
			State   string `json:"nbrState"`
			Address string `json:"ifaceAddress"`
			Iface   string `json:"ifaceName"`
		} `json:"neighbors"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("decode ospf neighbours: %w", err)
	}
	var nbrs []OSPFNeighbour
	for id, list := range doc.Neighbors {
		for _, nb := range list {
			iface, _, _ := strings.Cut(nb.Iface, ":")
			nbrs = append(nbrs, OSPFNeighbour{RouterID: id, State: nb.State, Address: nb.Address, Iface: iface})
		}
	}
	return nbrs, nil
}
