package shaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/shaperdev/shaper/loader"
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
	AppIDs    map[string]uint32 `json:"app_ids"` // current apps, and gone ones whose counter slot is not reused yet
	// Retired holds, per direction, the counts of gone apps whose id was
	// given to another app: their slot was zeroed, their bytes live on here.
	Retired map[string]loader.Counter `json:"retired,omitempty"`
	Minors  map[string]uint32         `json:"class_minors,omitempty"` // every egress class name ever planned here
	// IngressMinors is Minors for the ingress (download) classes.
	IngressMinors map[string]uint32 `json:"ingress_class_minors,omitempty"`
	// Loaded is what each hook (by direction) was given, so that a
	// re-apply skips what is already there (engine_fast.go).
	Loaded map[string]*loader.Loaded `json:"loaded,omitempty"`
	// PathPrograms: what runs in the download path (netns mode), so a
	// re-apply leaves running programs be.
	PathPrograms *PathPrograms `json:"path_programs,omitempty"`
}

// statePath is where the state of one interface lives:
// StateDir/<loader.NetnsKey(netns)>/<iface>.json, the same key as its pins.
func statePath(netns, iface string) string {
	return filepath.Join(StateDir, loader.NetnsKey(netns), iface+".json")
}

// LoadState returns the state of one interface, or nil when shaper does not
// manage it. A state file in an older shaper's layout is found too (read
// only: commands that change things migrate it first, see migrateLayout).
func LoadState(netns, iface string) (*State, error) {
	s, err := readStateFile(statePath(netns, iface))
	if err != nil || (s != nil && s.Netns == netns) {
		return s, err
	}
	// Not there, or the old root state in the folder of a netns named "host".
	s, err = readStateFile(legacyStatePath(netns, iface))
	if s != nil && s.Netns != netns {
		return nil, err // the other owner of a shared old "host" folder
	}
	return s, err
}

// readState reads one state file; nil when there is none.
func readStateFile(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode state %s: %w: the file is damaged; restore it or, if shaper no longer shapes "+
			"this interface, remove it", path, err)
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
		pattern = filepath.Join(StateDir, loader.NetnsKey(netns), "*.json")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	sort.Strings(files)
	var out []*State
	for _, f := range files {
		s, err := readStateFile(f)
		if err != nil {
			return nil, err
		}
		// In a namespace's folder, skip the old root state (old "host").
		if s != nil && (netns == "*" || s.Netns == netns) {
			out = append(out, s)
		}
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
