package shaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/shaperdev/shaper/loader"
)

// Older shapers keyed state folders by the raw namespace name and called
// the root namespace "host", so a namespace named "host" shared the root's
// state file and pins. The current layout keys both by loader.NetnsKey. A
// user who upgrades with policies applied must not be stranded: apply,
// delete and status move what they find in the old layout first.

// legacyStatePath is where an older shaper kept an interface's state.
func legacyStatePath(netns, iface string) string {
	if netns == "" {
		netns = "host"
	}
	return filepath.Join(StateDir, netns, iface+".json")
}

// misplacedStates lists state files that are not where statePath puts
// their interface: those of an older shaper.
func misplacedStates() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(StateDir, "*", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		s, err := readStateKey(f)
		if err != nil {
			return nil, err
		}
		if s != nil && f != statePath(s.Netns, s.Iface) {
			out = append(out, f)
		}
	}
	return out, nil
}

// readStateKey reads only where a state file belongs: decoding a whole
// state (10,000 apps' selectors) on every apply just to check its place
// cost a tenth of a second.
func readStateKey(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var k struct {
		Netns string `json:"netns"`
		Iface string `json:"iface"`
	}
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("decode state %s: %w: the file is damaged; restore it or, if shaper no longer shapes "+
			"this interface, remove it", path, err)
	}
	return &State{Netns: k.Netns, Iface: k.Iface}, nil
}

// migrateLayout moves every misplaced state file and its pins to the
// current layout. The caller holds the lock. Pins move before the state
// file, so a crash in between leaves a state file that a re-run moves
// (MigratePins finds nothing left to move and is fine with it).
func migrateLayout() error {
	files, err := misplacedStates()
	if err != nil {
		return err
	}
	for _, f := range files {
		s, err := readStateFile(f)
		if err != nil {
			return err
		}
		want := statePath(s.Netns, s.Iface)
		if _, err := os.Stat(want); err == nil {
			return fmt.Errorf("upgrade state layout: %s and %s both describe %s: remove the older one", f, want, s.label())
		}
		if err := loader.MigratePins(s.Netns, s.Iface); err != nil {
			return fmt.Errorf("upgrade state layout of %s: %w", s.label(), err)
		}
		if err := s.Save(); err != nil {
			return fmt.Errorf("upgrade state layout of %s: %w", s.label(), err)
		}
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("upgrade state layout of %s: %w", s.label(), err)
		}
		_ = os.Remove(filepath.Dir(f)) // only when empty
	}
	return nil
}

// ensureLayout migrates, under the lock, only when there is something to
// migrate: read-only commands stay lock-free in the usual case.
func ensureLayout() error {
	files, err := misplacedStates()
	if err != nil || len(files) == 0 {
		return err
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	return migrateLayout()
}
