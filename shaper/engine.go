package shaper

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// ApplyOptions are the knobs of Apply.
type ApplyOptions struct {
	Attach string    // auto | tcx | tc
	DryRun bool      // print the plan and the changes, touch nothing
	Netns  string    // namespace of interfaces whose policy names none
	Source string    // the policy file, remembered for status
	Out    io.Writer // progress and dry-run output
	// FlowEntries sizes each interface's flow table (0: the default,
	// loader.DefaultFlowEntries). A new size is a program reload.
	FlowEntries int

	noKernel bool // shaper check: resolve nothing on this host (cgroup ids are stand-ins)
}

// job is the work for one interface: everything computed before the
// kernel is touched, so bad input fails with nothing changed.
type job struct {
	iface   policy.Interface
	netns   string
	apps    []policy.App
	egress  *plan.Plan // nil: monitor-only
	ingress *plan.Plan // nil: downloads not shaped
	// redirect is the ifindex of the download path's device, once
	// applyIngressPath has made it (0: downloads pass unshaped).
	redirect uint32
	path     *PathPrograms // netns mode: the shaping namespace's programs
	prev     *State
	before   *Snapshot // what the interface had before shaper (first apply)
	appIDs   map[string]uint32
	reused   []uint32                  // app ids to retire before the new rules go live
	retired  map[string]loader.Counter // per direction: counts of retired app ids
	tables   map[loader.Direction]*classify.Tables
	cgroups  map[string]uint64         // ids of the policy's cgroup paths
	loaded   map[string]*loader.Loaded // by direction: what applyClassifier gave each hook
	flows    int                       // flow table entries (0: the default)
}

// Check runs every check Apply makes before it touches the kernel that
// needs no kernel: planning and rule compilation.
func Check(pol *policy.Policy) error {
	_, err := prepare(pol, ApplyOptions{noKernel: true})
	return err
}

// Apply makes the kernel match the policy on every interface it names.
func Apply(pol *policy.Policy, o ApplyOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.FlowEntries < 0 || o.FlowEntries > loader.MaxFlowEntries {
		return badInput(fmt.Errorf("--flow-entries %d: give 1 to %d (or 0 for the default, %d)",
			o.FlowEntries, loader.MaxFlowEntries, loader.DefaultFlowEntries))
	}
	// The attach mode is input too: refuse a bad one before anything else.
	attacher, why, err := loader.ChooseWithReason(o.Attach)
	if err != nil {
		return err
	}
	if !o.DryRun {
		unlock, err := lock()
		if err != nil {
			return err
		}
		defer unlock()
		if err := migrateLayout(); err != nil {
			return err
		}
	}
	jobs, err := prepare(pol, o)
	if err != nil {
		return err
	}
	if err := checkKernel(jobs); err != nil {
		return err
	}
	if o.DryRun {
		fmt.Fprintf(o.Out, "attach: %s (%s)\n", attacher.Name(), why)
		return dryRun(jobs, attacher.Name(), o.Out)
	}
	if err := loader.EnsureBPFFS(loader.BPFFSRoot); err != nil {
		return err
	}
	if err := ensureSockets(jobs, o.Out); err != nil {
		return err
	}
	return applyAll(jobs, attacher, o)
}

// applyAll applies interface after interface; on a failure it rolls back
// the failed one and those before it, newest first.
func applyAll(jobs []*job, attacher loader.Attacher, o ApplyOptions) error {
	var done []*job
	for _, j := range jobs {
		fmt.Fprintf(o.Out, "%s: applying\n", j.label())
		if err := j.apply(attacher, o); err != nil {
			err = fmt.Errorf("apply %s: %w", j.label(), err)
			slices.Reverse(done) // roll back newest first
			for _, r := range append([]*job{j}, done...) {
				if rerr := r.rollback(); rerr != nil {
					err = errors.Join(err, fmt.Errorf("roll back %s: %w", r.label(), rerr))
				} else {
					fmt.Fprintf(o.Out, "%s: rolled back\n", r.label())
				}
			}
			return err
		}
		done = append(done, j)
		fmt.Fprintf(o.Out, "%s: applied (%s)\n", j.label(), j.summary())
	}
	return nil
}

func (j *job) label() string {
	if j.netns == "" {
		return j.iface.Name
	}
	return j.netns + "/" + j.iface.Name
}

// knobs are the classifier's load-time constants for a direction: egress
// sets the class when shaped; ingress reverses the tuple and only counts;
// link is what precedes the IP header on the interface.
func (j *job) knobs(dir loader.Direction, link loader.LinkKind) loader.Knobs {
	if dir == loader.Ingress {
		k := loader.Knobs{Ingress: true, Shaped: j.ingress != nil, Link: link, Flows: j.flows}
		if j.ingress != nil && j.redirect != 0 {
			k.Path, k.Redirect = loader.PathNetns, j.redirect
			if j.iface.Ingress.Via == policy.ViaIFB {
				k.Path = loader.PathIFB
			}
		}
		return k
	}
	return loader.Knobs{Shaped: j.egress != nil, Link: link, Flows: j.flows}
}

func (j *job) summary() string {
	s := "egress monitor-only"
	if j.egress != nil {
		s = "egress " + j.egress.Kind
	}
	if j.ingress != nil {
		s += ", ingress " + j.ingress.Kind + " via " + j.iface.Ingress.Via
	} else if j.iface.Ingress != nil {
		s += ", ingress monitor-only"
	}
	return s
}

// prepare plans and compiles every interface; no kernel access but state
// files (read-only).
func prepare(pol *policy.Policy, o ApplyOptions) ([]*job, error) {
	var jobs []*job
	var errs []error
	cgroups, err := resolveCgroups(pol.Apps, o.noKernel)
	if err != nil {
		return nil, err
	}
	for _, ifc := range pol.Interfaces {
		ns := ifc.Netns
		if ns == "" {
			ns = o.Netns
		}
		j := newJob(ifc, ns, pol.Apps)
		j.flows = cmp.Or(o.FlowEntries, loader.DefaultFlowEntries)
		j.cgroups = cgroups
		if err := j.prepare(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.label(), err))
			continue
		}
		jobs = append(jobs, j)
	}
	if len(errs) > 0 {
		return nil, joinBadInput(errs)
	}
	return jobs, nil
}

func newJob(ifc policy.Interface, netns string, apps []policy.App) *job {
	return &job{iface: ifc, netns: netns, apps: apps,
		tables: map[loader.Direction]*classify.Tables{}}
}

func (j *job) prepare() error {
	prev, err := LoadState(j.netns, j.iface.Name)
	if err != nil {
		return err
	}
	j.prev = prev
	var prevIDs, prevMinors, prevInMinors map[string]uint32
	var prevApps []policy.App
	j.retired = map[string]loader.Counter{}
	if prev != nil {
		prevIDs, prevMinors, prevApps = prev.AppIDs, prev.Minors, prev.Apps
		prevInMinors = prev.IngressMinors
		for d, c := range prev.Retired {
			j.retired[d] = c
		}
	}
	ids, err := assignAppIDs(prevIDs, prevApps, j.apps)
	if err != nil {
		return err
	}
	j.appIDs, j.reused = ids.IDs, ids.Reused
	if j.iface.Egress != nil {
		p, err := plan.Keeping(j.iface.Egress, prevMinors)
		if err != nil {
			return badInput(err)
		}
		j.egress = p
	}
	// Egress is always classified and counted (monitor-only when unshaped).
	b := withCgroups(binding(j.egress, j.appIDs), j.cgroups)
	t, err := classify.Compile(j.apps, b)
	if err != nil {
		return err
	}
	j.tables[loader.Egress] = t
	if j.iface.Ingress.Shaped() {
		p, err := plan.Keeping(j.iface.Ingress, prevInMinors)
		if err != nil {
			return badInput(err)
		}
		j.ingress = p
	}
	if j.iface.Ingress != nil {
		t, err := classify.Compile(j.apps, withCgroups(binding(j.ingress, j.appIDs), j.cgroups))
		if err != nil {
			return err
		}
		j.tables[loader.Ingress] = t
	}
	return nil
}

// binding tells the compiler which class each app goes to: the leaf class
// that lists it, else the default class.
func binding(p *plan.Plan, ids map[string]uint32) classify.Binding {
	b := classify.Binding{AppID: ids, AppClass: map[string]classify.Class{}}
	if p == nil {
		return b
	}
	b.Default = classify.Class{ClassID: p.DefaultClassID(), Slot: p.DefaultClassID() & 0xffff}
	for _, c := range p.Classes {
		for _, a := range c.Apps {
			b.AppClass[a] = classify.Class{ClassID: c.ClassID, Slot: c.ClassID & 0xffff}
		}
	}
	return b
}

// checkKernel verifies, read-only, that every namespace and interface
// exists and that what an interface has now can be restored later, before
// anything is changed: bad input leaves the kernel as it was.
func checkKernel(jobs []*job) error {
	var errs []error
	for _, j := range jobs {
		err := inNetns(j.netns, func() error {
			link, err := netlink.LinkByName(j.iface.Name)
			if err != nil {
				return ifaceError{name: j.iface.Name, netns: j.netns, pos: j.iface.Pos}
			}
			if j.ingress != nil && loader.LinkKindOf(link) != loader.LinkEthernet {
				return badInput(fmt.Errorf("%s: %s: ingress shaping needs an Ethernet interface; %s has no MAC header "+
					"(a layer-3 link: tun, WireGuard, PPP): remove rate/tbf from its ingress to count downloads without shaping them",
					posString(j.iface.Ingress.Pos), j.label(), j.iface.Name))
			}
			if j.ingress != nil && j.iface.Ingress.Via == policy.ViaIFB {
				if p := loader.ProbeIFBRedirect(); !p.Supported {
					return badInput(fmt.Errorf("%s: %s: via: ifb does not work on this kernel: %s; use via: netns (the default)",
						posString(j.iface.Ingress.Pos), j.label(), p.Reason))
				}
			}
			if j.prev != nil {
				return nil
			}
			j.before, err = TakeSnapshot(link)
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return joinBadInput(errs)
}

func dryRun(jobs []*job, mode string, w io.Writer) error {
	for _, j := range jobs {
		fmt.Fprintf(w, "# %s\n", j.label())
		err := inNetns(j.netns, func() error {
			link, err := netlink.LinkByName(j.iface.Name)
			if err != nil {
				return err
			}
			return j.describe(w, link, mode)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var _ = time.Second
