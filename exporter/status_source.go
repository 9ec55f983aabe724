package exporter

import (
	"fmt"
	"path/filepath"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/shaper"
)

// StatusSource reads what `shaper status` reads (shaper.Status: the tc
// tree's 64-bit stats through netlink inside the namespace, the pinned
// counter maps in batches), without the live-rate sample: Prometheus
// computes rates. Netns selects the namespace ("" = the root one); only the
// reading enters it, the caller's thread and listener stay where they are.
type StatusSource struct {
	Netns string
}

// Read takes one status reading and flattens it into samples.
func (s StatusSource) Read() (*Reading, error) {
	rep, err := shaper.Status(shaper.StatusOptions{Netns: s.Netns, CountersOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	r := FromStatus(rep)
	maps, err := counterMapUsage(rep)
	r.Maps = maps
	return r, err
}

// FromStatus turns a status report into samples: classes of each direction
// and apps per hook. Exported so that fixtures can be built from status
// values as the engine makes them.
func FromStatus(rep *shaper.StatusReport) *Reading {
	r := &Reading{}
	for _, ifc := range rep.Interfaces {
		r.addDir(Where{ifc.Netns, ifc.Iface, loader.Egress.String()}, ifc.Egress)
		if ifc.Ingress != nil {
			r.addDir(Where{ifc.Netns, ifc.Iface, loader.Ingress.String()}, *ifc.Ingress)
		}
	}
	return r
}

func (r *Reading) addDir(w Where, d shaper.DirStatus) {
	for _, c := range d.Classes {
		r.Classes = append(r.Classes, ClassSample{Where: w, Class: className(c, d.Classes),
			Bytes: c.Stats.Bytes, Packets: c.Stats.Packets, Drops: uint64(c.Stats.Drops),
			Overlimits: uint64(c.Stats.Overlimits), Backlog: uint64(c.Stats.Backlog), Qlen: uint64(c.Stats.Qlen),
			RateBytes: c.RateBits / 8, CeilBytes: c.CeilBits / 8})
	}
	for _, a := range d.Apps {
		r.Apps = append(r.Apps, AppSample{Where: w, App: a.Name, Bytes: a.Bytes, Packets: a.Packets})
	}
}

// counterMapUsage reports the counter arrays' capacity, and as entries the
// slots with counts: an app id never seen is not counted, so the app map
// fills as apps send traffic, not as the policy names them.
func counterMapUsage(rep *shaper.StatusReport) ([]MapSample, error) {
	var out []MapSample
	for _, ifc := range rep.Interfaces {
		dirs := []struct {
			dir loader.Direction
			d   *shaper.DirStatus
		}{{loader.Egress, &ifc.Egress}, {loader.Ingress, ifc.Ingress}}
		for _, x := range dirs {
			if x.d == nil {
				continue
			}
			w := Where{ifc.Netns, ifc.Iface, x.dir.String()}
			pin := loader.PinDir(ifc.Netns, ifc.Iface, x.dir)
			used := map[string]uint64{bpf.ClassifierMapAppStats: uint64(len(x.d.Apps)), bpf.ClassifierMapClassStats: classesCounted(x.d)}
			for _, name := range []string{bpf.ClassifierMapAppStats, bpf.ClassifierMapClassStats} {
				u, ok, err := loader.PinnedMapCapacity(filepath.Join(pin, name))
				if err != nil {
					return out, err
				}
				if ok {
					out = append(out, MapSample{Where: w, Map: name, Entries: used[name], Capacity: u})
				}
			}
		}
	}
	return out, nil
}

func classesCounted(d *shaper.DirStatus) uint64 {
	var n uint64
	for _, c := range d.Classes {
		if c.BPFPackets > 0 {
			n++
		}
	}
	return n
}

// className labels a class. The HTB class at the top, which holds the
// interface's rate, has no name in the policy: it is "root" as a TBF root
// is, or its id if a class of the policy is called root.
func className(c shaper.ClassStatus, all []shaper.ClassStatus) string {
	if c.Name != "" {
		return c.Name
	}
	for _, o := range all {
		if o.Name == "root" {
			return c.ID
		}
	}
	return "root"
}
