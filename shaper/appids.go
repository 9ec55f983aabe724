package shaper

import (
	"fmt"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/loader"
	"github.com/shaperdev/shaper/policy"
)

// App ids index the classifier's per-app counters (ids 1..bpf.MaxApps-1; 0
// is "unmatched"). An app keeps its id for as long as it is in the policy,
// and a gone app keeps its id (and counts, shown under its name) until the
// id is needed. Then the id is reused: its counts are moved to the
// interface's retired total and the slot is zeroed before the new rules go
// live, so no app inherits another's bytes and no byte leaves the totals.

// idAssignment is the outcome of assigning ids for one apply.
type idAssignment struct {
	IDs    map[string]uint32 // current apps, and gone apps not reused yet
	Reused []uint32          // slots to retire (fold into Retired, zero) before the rules that use them
}

// assignAppIDs gives every app of the policy an id. prev are the ids of
// the last apply and prevApps the apps it had. New apps take, in order:
// ids never used; ids of apps gone before the last apply (no rule
// generation the classifier may still run refers to them: exact); ids of
// apps gone in this apply (the last generation still refers to them until
// the flip: a packet counted in between lands in the new app; used only
// when nothing else is left).
func assignAppIDs(prev map[string]uint32, prevApps, apps []policy.App) (idAssignment, error) {
	return assignAppIDsIn(prev, prevApps, apps, bpf.MaxApps-1)
}

// assignAppIDsIn is assignAppIDs over the ids 1..maxID (tests use a small
// space, to go round it quickly).
func assignAppIDsIn(prev map[string]uint32, prevApps, apps []policy.App, maxID uint32) (idAssignment, error) {
	if len(apps) > int(maxID) {
		return idAssignment{}, badInput(fmt.Errorf("%sapp %q is app number %d; the classifier counts at most %d apps: "+
			"merge apps (an app may list many selectors)", posPrefix(apps[maxID].Pos), apps[maxID].Name, maxID+1, maxID))
	}
	now := make(map[string]bool, len(apps))
	for _, a := range apps {
		now[a.Name] = true
	}
	wasCurrent := make(map[string]bool, len(prevApps))
	for _, a := range prevApps {
		wasCurrent[a.Name] = true
	}
	owner := make([]string, maxID+1) // "" : free
	gone := make([]uint8, maxID+1)   // 1: gone before the last apply, 2: gone in this one
	out := idAssignment{IDs: make(map[string]uint32, len(prev)+len(apps))}
	for name, id := range prev {
		if id == 0 || id > maxID || owner[id] != "" || name == "" {
			continue // not ours to keep (a damaged state file): reassigned below
		}
		owner[id] = name
		out.IDs[name] = id
		switch {
		case now[name]:
		case wasCurrent[name]:
			gone[id] = 2
		default:
			gone[id] = 1
		}
	}
	var drained, quarantined []uint32 // in id order
	for id := uint32(1); id <= maxID; id++ {
		switch gone[id] {
		case 1:
			drained = append(drained, id)
		case 2:
			quarantined = append(quarantined, id)
		}
	}
	fresh := uint32(1)
	for _, a := range apps {
		if _, ok := out.IDs[a.Name]; ok {
			continue
		}
		for fresh <= maxID && owner[fresh] != "" {
			fresh++
		}
		var id uint32
		switch {
		case fresh <= maxID:
			id = fresh
		case len(drained) > 0:
			id, drained = drained[0], drained[1:]
		case len(quarantined) > 0:
			id, quarantined = quarantined[0], quarantined[1:]
		default:
			return idAssignment{}, fmt.Errorf("app %q: no app id left (%d apps) (caller bug)", a.Name, len(apps))
		}
		if old := owner[id]; old != "" {
			delete(out.IDs, old)
			out.Reused = append(out.Reused, id)
		}
		out.IDs[a.Name] = id
		owner[id] = a.Name
	}
	return out, nil
}

// retireApps moves the counts of the reused slots of one hook into the
// retired total and zeroes the slots, before the rules that reuse them go
// live.
func retireApps(c *loader.Classifier, dir loader.Direction, ids []uint32, retired map[string]loader.Counter) error {
	if len(ids) == 0 {
		return nil
	}
	took, err := c.TakeAppCounters(ids)
	if err != nil {
		return fmt.Errorf("retire app ids %v: %w", ids, err)
	}
	r := retired[dir.String()]
	r.Bytes += took.Bytes
	r.Packets += took.Packets
	retired[dir.String()] = r
	return nil
}
