package netlab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// StateRoot holds one folder per lab: what Up created, so that Down,
// Status and Exec work from any process. It is a tmpfs: a reboot, which
// removes every namespace, removes the records too.
var StateRoot = "/run/shaper/labs"

// state is a lab's record. Netns lists the namespaces this lab created and
// only those: Down removes nothing else.
type state struct {
	Name     string    `json:"name"`
	Hash     string    `json:"hash"`
	Created  time.Time `json:"created"`
	Netns    []string  `json:"netns"`
	Topology *Topology `json:"topology"`
}

func stateDir(lab string) string { return filepath.Join(StateRoot, lab) }

func nodeDir(lab, node string) string { return filepath.Join(StateRoot, lab, node) }

// topoHash identifies a resolved topology, to tell a re-run of the same
// file (nothing to do) from a different one (down first).
func topoHash(t *Topology) string {
	c := *t
	c.File = "" // the same file read from another path is the same lab
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// errNotUp is returned (wrapped) when a lab has no state.
var errNotUp = errors.New("lab is not up")

func readState(lab string) (*state, error) {
	if err := ValidLabName(lab); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(stateDir(lab), "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab %s: %w (no %s): list labs with `shaper lab status`", lab, errNotUp, stateDir(lab))
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(stateDir(lab), "state.json"), err)
	}
	return &st, nil
}

// writeState replaces the record atomically: a crash never leaves half a
// file that Down could not read.
func writeState(st *state) error {
	dir := stateDir(st.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create lab state folder: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := filepath.Join(dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

// Labs lists the labs that are up on this machine.
func Labs() ([]string, error) {
	ents, err := os.ReadDir(StateRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	var names []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(StateRoot, e.Name(), "state.json")); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
