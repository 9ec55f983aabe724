package shaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

// StateDir holds one JSON file per shaped interface. It lives on tmpfs
// (/run) like the bpffs pins, so both vanish together at reboot, when the
// kernel state they describe is gone too.
var StateDir = "/run/shaper/state"

// State is what shaper remembers of one interface it manages: what the
// interface had before (to restore it exactly), what was applied (to diff
// against and to roll back to) and the stable app ids (so that counters
// keep their meaning across re-applies).
type State struct {
	Netns     string            `json:"netns,omitempty"`
	Iface     string            `json:"iface"`
	Source    string            `json:"source,omitempty"`
	AppliedAt time.Time         `json:"applied_at"`
	Attach    string            `json:"attach"`
	Before    *Snapshot         `json:"before,omitempty"`
	Apps      []policy.App      `json:"apps"`
	Interface policy.Interface  `json:"interface"`
	AppIDs    map[string]uint32 `json:"app_ids"`
	Minors    map[string]uint32 `json:"class_minors,omitempty"` // every egress class name ever planned here
}

func nsLabel(netns string) string {
	if netns == "" {
		return "host"
	}
	return netns
}

func statePath(netns, iface string) string {
	return filepath.Join(StateDir, nsLabel(netns), iface+".json")
}

// LoadState returns the state of one interface, or nil when shaper does not
// manage it.
func LoadState(netns, iface string) (*State, error) {
	data, err := os.ReadFile(statePath(netns, iface))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", statePath(netns, iface), err)
	}
	return &s, nil
}

// Save writes the state atomically: a crash leaves the old or the new file.
func (s *State) Save() error {
	p := statePath(s.Netns, s.Iface)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// Remove deletes the state file (and its namespace folder when empty).
func (s *State) Remove() error {
	p := statePath(s.Netns, s.Iface)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	_ = os.Remove(filepath.Dir(p)) // only succeeds when empty
	return nil
}

// ListStates returns every managed interface, optionally of one netns
// (all namespaces when netns is "*").
func ListStates(netns string) ([]*State, error) {
	pattern := filepath.Join(StateDir, "*", "*.json")
	if netns != "*" {
		pattern = filepath.Join(StateDir, nsLabel(netns), "*.json")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	sort.Strings(files)
	var out []*State
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		var s State
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("decode state %s: %w", f, err)
		}
		out = append(out, &s)
	}
	return out, nil
}

// mergeMinors adds a plan's class minors to those of earlier applies, so a
// removed class's minor is never handed to another class.
func mergeMinors(prev map[string]uint32, p *plan.Plan) map[string]uint32 {
	out := map[string]uint32{}
	for n, id := range prev {
		out[n] = id
	}
	if p != nil && p.Kind == "htb" {
		for n, id := range p.Minors() {
			out[n] = id
		}
	}
	return out
}

// assignAppIDs keeps the ids an app had and gives new apps fresh ones that
// were never used, so an app's counter never inherits another's bytes. Id 0
// is the "unmatched" app.
func assignAppIDs(prev map[string]uint32, apps []policy.App) map[string]uint32 {
	ids := make(map[string]uint32, len(prev)+len(apps))
	var next uint32 = 1
	for name, id := range prev {
		ids[name] = id
		if id >= next {
			next = id + 1
		}
	}
	for _, a := range apps {
		if _, ok := ids[a.Name]; !ok {
			ids[a.Name] = next
			next++
		}
	}
	return ids
}
