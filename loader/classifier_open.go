package loader

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// The fast paths of a re-apply. Loading the classifier makes the kernel
// verify it (hundreds of milliseconds); a re-apply that keeps the program
// object and knobs needs none of that: the program attached last time
// still runs on the pinned maps, and new rules are a map write.

// Loaded records what a hook was given by the last apply, so that the next
// one can tell what, if anything, must change. The engine keeps it in the
// state file.
type Loaded struct {
	Object string         `json:"object"` // digest of the classifier object (bpf.ClassifierObjectHash)
	Knobs  string         `json:"knobs"`  // the load-time constants
	Attach string         `json:"attach"` // tcx | tc
	ProgID ebpf.ProgramID `json:"prog_id"`
	Gen    uint32         `json:"gen"` // the active generation after the apply
	// Gens are the digests (TablesHash) of the rules each generation
	// holds: "" when unknown, EmptyDigest when it holds none.
	Gens [bpf.NumGens]string `json:"gens"`
}

// EmptyDigest is the digest of no rules: what fresh maps hold.
var EmptyDigest = TablesHash(&classify.Tables{})

// SameProgram says whether a hook that was given l can keep its program
// for knobs with attach mode mode: same object, same knobs, same mode.
func (l *Loaded) SameProgram(knobs Knobs, mode string) bool {
	return l != nil && l.ProgID != 0 && l.Object == bpf.ClassifierObjectHash() &&
		l.Knobs == KnobsString(knobs) && l.Attach == mode
}

// KnobsString is knobs as recorded in Loaded: every field by name, so a
// knob added later changes it.
func KnobsString(k Knobs) string { return fmt.Sprintf("%+v", k) }

// Record is what the hook holds now that program prog runs there on c's
// maps, whose generations hold the rules with digests gens.
func (c *Classifier) Record(knobs Knobs, mode string, prog ebpf.ProgramID, gens [bpf.NumGens]string) (*Loaded, error) {
	gen, err := c.Gen()
	if err != nil {
		return nil, err
	}
	return &Loaded{Object: bpf.ClassifierObjectHash(), Knobs: KnobsString(knobs), Attach: mode, ProgID: prog,
		Gen: gen, Gens: gens}, nil
}

// ProgramID is the kernel's id of the loaded program (0 for a classifier
// opened from pins, which has no program of its own).
func (c *Classifier) ProgramID() (ebpf.ProgramID, error) {
	p := c.objs.ShaperClassify
	if p == nil {
		return 0, nil
	}
	info, err := p.Info()
	if err != nil {
		return 0, fmt.Errorf("program info: %w", err)
	}
	id, _ := info.ID()
	return id, nil
}

// OpenPinned opens the maps of a classifier pinned in pinDir without
// loading its program: what a rules-only change writes. Every map the
// classifier has must be pinned there.
func OpenPinned(pinDir string) (*Classifier, error) {
	c := &Classifier{}
	v := reflect.ValueOf(&c.objs.ClassifierMaps).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("ebpf")
		path := filepath.Join(pinDir, name)
		switch {
		case name == bpf.ClassifierMapSockInfo: // the host's, not the hook's
			path = filepath.Join(sockDir, sockMapPin)
		case name == bpf.ClassifierMapTestIdent: // never pinned; nothing writes it
			continue
		case sharedMaps[name]:
			path = filepath.Join(sharedDirOf(pinDir), name)
		}
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("open pinned map %s: %w", name, err)
		}
		v.Field(i).Set(reflect.ValueOf(m))
	}
	c.size = c.loadedSizes()
	return c, nil
}

// LoadClassifierKnown is LoadClassifierFor that also knows, when pinDir
// holds no maps yet (fresh = true), that the maps it creates are empty:
// the first Update then writes only the rules' entries instead of whole
// generations.
func LoadClassifierKnown(knobs Knobs, pinDir string, rules *classify.Tables) (c *Classifier, fresh bool, err error) {
	_, err = os.Stat(filepath.Join(pinDir, bpf.ClassifierMapConfigMap))
	fresh = errors.Is(err, os.ErrNotExist)
	if c, err = LoadClassifierFor(knobs, pinDir, rules); err != nil {
		return nil, false, err
	}
	if fresh {
		for g := range c.written {
			c.written[g] = &classify.Tables{}
		}
	}
	return c, fresh, nil
}

// Fits says whether rules t fit in c's address hash tables as they are.
func (c *Classifier) Fits(t *classify.Tables) bool {
	want := sizesFor(t)
	for i, n := range want.slots {
		if n > c.size.slots[i] {
			return false
		}
	}
	return want.masks <= c.size.masks
}

// Runs says whether program prog is what a's hook runs through attacher
// mode (our pinned TCX link, or our cls_bpf filter), and whether it runs
// on c's maps. False means the kernel drifted from what was recorded (the
// filter or link was removed, the program replaced, the maps re-pinned):
// the caller loads and attaches afresh.
func (c *Classifier) Runs(mode string, a Attachment, prog ebpf.ProgramID) (bool, error) {
	var attached bool
	var err error
	switch mode {
	case ModeTCX:
		attached, err = tcxRuns(a, prog)
	case ModeTC:
		attached, err = tcRuns(a, prog)
	}
	if err != nil || !attached {
		return false, err
	}
	return c.usedBy(prog)
}

func tcxRuns(a Attachment, prog ebpf.ProgramID) (bool, error) {
	l, err := link.LoadPinnedLink(filepath.Join(a.PinPath, linkPin), nil)
	if err != nil {
		return false, nil // none, or not a usable link: Attach makes one
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return false, fmt.Errorf("pinned link info: %w", err)
	}
	return info.Program == prog && linkOnHook(l, a.Ifindex, a.Dir), nil
}

func tcRuns(a Attachment, prog ebpf.ProgramID) (bool, error) {
	fs, err := bpfFilters(a.Ifindex, a.Dir)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if isOurSlot(f) && f.DirectAction && ebpf.ProgramID(f.Id) == prog {
			return true, nil
		}
	}
	return false, nil
}

// usedBy says whether program prog uses every one of c's maps.
func (c *Classifier) usedBy(prog ebpf.ProgramID) (bool, error) {
	p, err := ebpf.NewProgramFromID(prog)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open program %d: %w", prog, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return false, fmt.Errorf("program %d info: %w", prog, err)
	}
	ids, ok := info.MapIDs()
	if !ok {
		return false, nil // cannot tell: reload to be sure
	}
	uses := map[ebpf.MapID]bool{}
	for _, id := range ids {
		uses[id] = true
	}
	v := reflect.ValueOf(&c.objs.ClassifierMaps).Elem()
	for i := range v.NumField() {
		m, _ := v.Field(i).Interface().(*ebpf.Map)
		if m == nil && v.Type().Field(i).Tag.Get("ebpf") == bpf.ClassifierMapTestIdent {
			continue // each program's own, never pinned (OpenPinned leaves it out)
		}
		if m == nil {
			return false, nil
		}
		mi, err := m.Info()
		if err != nil {
			return false, fmt.Errorf("map info: %w", err)
		}
		if id, _ := mi.ID(); !uses[id] {
			return false, nil
		}
	}
	return true, nil
}

// TablesHash is a digest of compiled rules: equal digests, equal entries
// in every rule map.
func TablesHash(t *classify.Tables) string {
	h := sha256.New()
	writeTables(h, t)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
