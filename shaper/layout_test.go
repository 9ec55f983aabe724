package shaper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/loader"
)

// tempStateDir points StateDir at a fresh folder for one test.
func tempStateDir(t *testing.T) {
	old := StateDir
	StateDir = t.TempDir()
	t.Cleanup(func() { StateDir = old })
}

func writeLegacy(t *testing.T, st *State) string {
	t.Helper()
	p := legacyStatePath(st.Netns, st.Iface)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"netns":"`+st.Netns+`","iface":"`+st.Iface+`","app_ids":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// In the old layout the root namespace's state sat in "host": it is not
// mistaken for the state of a namespace named "host", and it is found.
func TestLayoutOldRootStateIsNotNetnsHost(t *testing.T) {
	tempStateDir(t)
	writeLegacy(t, &State{Iface: "eth0"})
	if st, err := LoadState("host", "eth0"); err != nil || st != nil {
		t.Errorf("LoadState(host, eth0) = %+v, %v: want none (the file is the root's)", st, err)
	}
	if st, err := LoadState("", "eth0"); err != nil || st == nil || st.Netns != "" {
		t.Errorf("LoadState(root, eth0) = %+v, %v: want the old root state", st, err)
	}
	if sts, err := ListStates("host"); err != nil || len(sts) != 0 {
		t.Errorf("ListStates(host) = %d states, %v: want none", len(sts), err)
	}
}

// A namespace whose name the key escapes ("a.b" → "a%2eb") had its state
// under the raw name: migration moves it; "host"'s own state stays.
func TestLayoutMigrateEscapedName(t *testing.T) {
	tempStateDir(t)
	old := writeLegacy(t, &State{Netns: "a.b", Iface: "eth0"})
	host := writeLegacy(t, &State{Netns: "host", Iface: "eth1"})
	if files, err := misplacedStates(); err != nil || len(files) != 1 || files[0] != old {
		t.Fatalf("misplaced = %v, %v: want only %s", files, err, old)
	}
	if err := migrateLayout(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{old: false, statePath("a.b", "eth0"): true, host: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
	if filepath.Base(filepath.Dir(statePath("a.b", "eth0"))) != "a%2eb" {
		t.Errorf("state of a.b at %s", statePath("a.b", "eth0"))
	}
	if files, _ := misplacedStates(); len(files) != 0 {
		t.Errorf("still misplaced after migration: %v", files)
	}
}

// The table shows removed apps as such and the retired total, and points
// at namespaces it leaves out.
func TestStatusTableRetiredAndOtherNetns(t *testing.T) {
	rep := &StatusReport{
		Interfaces: []IfaceStatus{{Iface: "eth0", Present: true, Drift: []string{}, Egress: DirStatus{Mode: "monitor",
			Apps:    []AppStatus{{Name: "web", ID: 1, Bytes: 10, Packets: 1}, {Name: "old", ID: 2, Bytes: 20, Packets: 2, Removed: true}},
			Retired: loader.Counter{Bytes: 3000, Packets: 3}}}},
		OtherNetns: []string{"lab1"},
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"old (removed)", "(retired apps)  2.9KiB  3", "netns lab1: see them with --netns NAME or --all-namespaces"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
