package shaper

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/policy"
)

// idModel replays applies against simulated per-app counter slots, as the
// engine drives them: reused slots are folded into retired and zeroed,
// then every current app gets traffic.
type idModel struct {
	t        *testing.T
	ids      map[string]uint32
	apps     []policy.App
	space    uint32   // ids 1..space: smaller than the classifier's, so tests go round it quickly
	slots    []uint64 // by id
	retired  uint64
	total    uint64
	expected map[string]uint64 // what each name's slot must hold
	r        *rand.Rand
}

func newIDModel(t *testing.T, seed uint64) *idModel {
	const space = 1023
	return &idModel{t: t, ids: map[string]uint32{}, expected: map[string]uint64{}, r: rand.New(rand.NewPCG(seed, 7)),
		space: space, slots: make([]uint64, space+1)}
}

// apply assigns ids for apps and checks them; it returns how many ids were
// reused. Every check runs on each apply for the apps in the policy, and
// over all names every full-th apply (they are costly at 100,000 applies).
func (m *idModel) apply(apps []policy.App, exact, full bool) int {
	t := m.t
	t.Helper()
	got, err := assignAppIDsIn(m.ids, m.apps, apps, m.space)
	if err != nil {
		t.Fatalf("assign ids for %d apps: %v", len(apps), err)
	}
	prevCurrent := map[string]bool{}
	for _, a := range m.apps {
		prevCurrent[a.Name] = true
	}
	owner := make([]string, m.space+1)
	for name, id := range m.ids {
		owner[id] = name
	}
	check := func(name string, id uint32, seen map[uint32]string) {
		if id == 0 || id > m.space {
			t.Fatalf("%s got id %d, outside 1..%d", name, id, m.space)
		}
		if other, dup := seen[id]; dup && other != name {
			t.Fatalf("id %d given to %s and %s", id, other, name)
		}
		seen[id] = name
		if old, ok := m.ids[name]; ok && old != id {
			t.Fatalf("%s moved from id %d to %d", name, old, id)
		}
	}
	seen := map[uint32]string{}
	for _, a := range apps {
		id, ok := got.IDs[a.Name]
		if !ok {
			t.Fatalf("app %s has no id", a.Name)
		}
		check(a.Name, id, seen)
	}
	if full {
		for name, id := range got.IDs {
			check(name, id, seen)
		}
	}
	for _, id := range got.Reused {
		if exact && prevCurrent[owner[id]] {
			t.Fatalf("id %d reused from %s, which the last apply still had: not exact", id, owner[id])
		}
		m.retired += m.slots[id]
		m.slots[id] = 0
		delete(m.expected, owner[id])
	}
	// Traffic for the apps now in the policy.
	for _, a := range apps {
		n := uint64(1 + m.r.IntN(1000))
		m.slots[got.IDs[a.Name]] += n
		m.expected[a.Name] += n
		m.total += n
	}
	var sum uint64
	for _, v := range m.slots {
		sum += v
	}
	if sum+m.retired != m.total {
		t.Fatalf("bytes lost: slots %d + retired %d != counted %d", sum, m.retired, m.total)
	}
	holds := func(name string, id uint32) {
		if m.slots[id] != m.expected[name] {
			t.Fatalf("%s (id %d) holds %d, want %d: it inherited or lost bytes", name, id, m.slots[id], m.expected[name])
		}
	}
	for _, a := range apps {
		holds(a.Name, got.IDs[a.Name])
	}
	if full {
		for name, id := range got.IDs {
			holds(name, id)
		}
	}
	m.ids, m.apps = got.IDs, apps
	return len(got.Reused)
}

// 20,000 applies of a 20-app policy renaming 5 apps each time (100,000
// renames) (and now
// and then bringing back a gone name) never run out of ids, never hand an
// app another's bytes, and never lose one.
func TestAppIDsManyRenames(t *testing.T) {
	m := newIDModel(t, 1)
	next := 0
	fresh := func() policy.App { next++; return policy.App{Name: fmt.Sprintf("app%d", next)} }
	apps := make([]policy.App, 20)
	for i := range apps {
		apps[i] = fresh()
	}
	reused := 0
	for i := range 20_000 {
		cur := append([]policy.App(nil), apps...)
		for range 5 {
			k := m.r.IntN(len(cur))
			if back := fmt.Sprintf("app%d", next-30-m.r.IntN(20)); i%7 == 0 && m.ids[back] != 0 && !hasApp(cur, back) {
				cur[k] = policy.App{Name: back} // a gone app comes back: same id, counts go on
			} else {
				cur[k] = fresh()
			}
		}
		reused += m.apply(cur, true, i%100 == 0)
		apps = cur
	}
	if next < 10*int(m.space) || reused == 0 {
		t.Fatalf("only %d names, %d reuses: the test did not go round the id space", next, reused)
	}
	t.Logf("%d applies, %d app names, %d ids reused", 20_000, next, reused)
}

// Renaming more apps at once than half the id space still works: ids of
// apps gone in this very apply are used last.
func TestAppIDsRenameAllOfALargePolicy(t *testing.T) {
	for _, n := range []int{511, 600, 1023} { // newIDModel's space
		m := newIDModel(t, uint64(n))
		for i := range 20 {
			apps := make([]policy.App, n)
			for k := range apps {
				apps[k] = policy.App{Name: fmt.Sprintf("r%d-%d", i, k)}
			}
			m.apply(apps, n <= int(m.space)/2, true)
		}
	}
	apps := make([]policy.App, bpf.MaxApps)
	for k := range apps {
		apps[k] = policy.App{Name: fmt.Sprint(k)}
	}
	if _, err := assignAppIDs(nil, nil, apps); !isBadInput(err) {
		t.Errorf("%d apps: got %v, want bad input", len(apps), err)
	}
}

func hasApp(apps []policy.App, name string) bool {
	for _, a := range apps {
		if a.Name == name {
			return true
		}
	}
	return false
}
