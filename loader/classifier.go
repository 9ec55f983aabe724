package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
)

// Knobs are the classifier's load-time constants.
type Knobs struct {
	Ingress bool // reverse the tuple so selectors describe flows as egress sees them
	Shaped  bool // set skb->priority and count classes (false: monitor-only)
	// Link is what precedes the IP header on the link (LinkKindOf); the
	// zero value is Ethernet.
	Link LinkKind
	// Flows is the entries of the interface's flow table (0: the
	// default, DefaultFlowEntries). Both hooks of an interface share the
	// table, so both must be given the same.
	Flows int
	// IdentTest makes the program take the socket owner (comm, cgroup)
	// from its test_ident map instead of the packet's socket: for tests
	// through BPF_PROG_TEST_RUN, whose packets have no socket.
	IdentTest bool
	// Path and Redirect divert downloads into their shaping device
	// (ingress only, docs/downloads.md): PathNone leaves them be.
	Path     IngressPath
	Redirect uint32 // ifindex of the veth host end or IFB device
}

// IngressPath is how downloads reach the queue that shapes them (enum
// ingress_path in bpf/redirect.h).
type IngressPath uint8

// The ingress paths.
const (
	PathNone  = IngressPath(bpf.ClassifierIngressPathPATH_NONE)
	PathNetns = IngressPath(bpf.ClassifierIngressPathPATH_NETNS)
	PathIFB   = IngressPath(bpf.ClassifierIngressPathPATH_IFB)
)

// Counter is a summed per-CPU counter.
type Counter struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

// Classifier is a loaded classifier program and its maps.
type Classifier struct {
	objs bpf.ClassifierObjects
	// written[g] is what this process last wrote to generation g; nil when
	// unknown (maps reused from pins), which makes the next write clear
	// the whole generation first.
	written [bpf.NumGens]*classify.Tables
	size    sizes // of the address hash tables, per generation
}

// LoadClassifier is LoadClassifierFor without rules: the address hash
// tables get DefaultHashSlots (or the pinned maps' size).
func LoadClassifier(knobs Knobs, pinDir string) (*Classifier, error) {
	return LoadClassifierFor(knobs, pinDir, nil)
}

// LoadClassifierFor loads the classifier with its knobs, its address hash
// tables sized to hold rules (nil: the default size). With pinDir set, its
// maps are pinned there by name and reused when already present, so rules
// and counters survive a re-apply and the process's exit; when the pinned
// hash tables are too small for rules, the rule maps are made afresh (the
// counters are kept) and their pins replaced. Each hook (an interface and
// direction) needs its own pinDir: they must not share counters.
func LoadClassifierFor(knobs Knobs, pinDir string, rules *classify.Tables) (*Classifier, error) {
	spec, err := bpf.LoadClassifier()
	if err != nil {
		return nil, fmt.Errorf("load classifier spec: %w", err)
	}
	for name, v := range map[string]bool{"ingress": knobs.Ingress, "shaped": knobs.Shaped, "ident_test": knobs.IdentTest} {
		if err := setKnob(spec, name, boolByte(v)); err != nil {
			return nil, err
		}
	}
	if err := setKnob(spec, "link_type", uint8(knobs.Link)); err != nil {
		return nil, err
	}
	if err := setKnob(spec, "ingress_mode", uint8(knobs.Path)); err != nil {
		return nil, err
	}
	if err := setKnob(spec, "redirect_ifindex", knobs.Redirect); err != nil {
		return nil, err
	}
	var opts ebpf.CollectionOptions
	if pinDir != "" {
		if err := os.MkdirAll(pinDir, 0o700); err != nil {
			return nil, fmt.Errorf("classifier pin dir: %w", err)
		}
		opts.Maps.PinPath = pinDir
	}
	fresh, err := planPins(spec, pinDir, sizesFor(rules))
	if err != nil {
		return nil, fmt.Errorf("classifier pins: %w", err)
	}
	shared, err := sharedReplacements(spec, pinDir, knobs)
	if err != nil {
		return nil, fmt.Errorf("classifier shared pins: %w", err)
	}
	defer closeMaps(shared) // the collection holds its own references
	opts.MapReplacements = shared
	// Pinned classifiers share the host's socket records; one without
	// pins (tests, benchmarks) keeps a private, empty map.
	spec.Maps[bpf.ClassifierMapSockInfo].Pinning = ebpf.PinNone
	if pinDir != "" {
		si, err := SockInfoMap()
		if err != nil {
			return nil, err
		}
		defer si.Close()
		if opts.MapReplacements == nil {
			opts.MapReplacements = map[string]*ebpf.Map{}
		}
		opts.MapReplacements[bpf.ClassifierMapSockInfo] = si
	}
	c := &Classifier{}
	if err := spec.LoadAndAssign(&c.objs, &opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load classifier: %w\nverifier log:\n%+v", err, ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("load classifier: maps pinned in %s are from another version of shaper: "+
				"remove them (shaper delete) and apply again: %w", pinDir, err)
		}
		return nil, fmt.Errorf("load classifier: %w", err)
	}
	if fresh {
		if err := c.continueCounter(pinDir); err != nil {
			c.Close()
			return nil, fmt.Errorf("classifier pins: %w", err)
		}
		if err := c.repin(pinDir); err != nil {
			c.Close()
			return nil, fmt.Errorf("classifier pins: %w", err)
		}
	}
	c.size = c.loadedSizes()
	return c, nil
}

func setKnob(spec *ebpf.CollectionSpec, name string, v any) error {
	vs, ok := spec.Variables[name]
	if !ok {
		return fmt.Errorf("classifier has no knob %q (bpf package out of date)", name)
	}
	if err := vs.Set(v); err != nil {
		return fmt.Errorf("set knob %s: %w", name, err)
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Program is the tc program to attach.
func (c *Classifier) Program() *ebpf.Program { return c.objs.ShaperClassify }

// Close releases this process's handles; pinned maps stay.
func (c *Classifier) Close() error { return c.objs.Close() }

// Gen returns the active rule generation (0 or 1: which half of the rule
// maps is live).
func (c *Classifier) Gen() (uint32, error) {
	g, err := c.GenCounter()
	return g & 1, err
}

// GenCounter returns config.gen whole: a counter every Update bumps, whose
// low bit is the active generation. Flow table entries remember it, so a
// verdict made before a rule change is made again after it, even after
// two changes (the low bit alone would come back).
func (c *Classifier) GenCounter() (uint32, error) {
	var cfg bpf.ClassifierConfig
	if err := c.objs.ConfigMap.Lookup(uint32(0), &cfg); err != nil {
		return 0, fmt.Errorf("read classifier config: %w", err)
	}
	return cfg.Gen, nil
}

// Update makes t the rules, atomically for packets: it writes the inactive
// generation, then flips config.gen. The old generation is left as it is:
// clearing it right after the flip would race with programs still running
// on it; the next Update clears it before writing.
func (c *Classifier) Update(t *classify.Tables) error {
	counter, err := c.GenCounter()
	if err != nil {
		return err
	}
	next := (counter + 1) & 1
	// Fields that do not fit in the hash tables go to the trie: eff says so.
	eff, tabs, masks := t.Hashed(c.size.slots, c.size.masks)
	if err := c.writeGen(next, c.written[next], eff, tabs, masks); err != nil {
		c.written[next] = nil // partly written: unknown
		return fmt.Errorf("write rule generation %d: %w", next, err)
	}
	c.written[next] = eff
	if err := c.objs.ConfigMap.Update(uint32(0), bpf.ClassifierConfig{Gen: counter + 1}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("flip rule generation to %d: %w", next, err)
	}
	return nil
}

// writeGen replaces generation gen's entries, which were prev (nil:
// unknown), with t's.
func (c *Classifier) writeGen(gen uint32, prev, t *classify.Tables, tabs [bpf.NumAddrs]*classify.HashTable, masks []classify.Mask) error {
	o := &c.objs
	var pProto map[uint8]classify.Mask
	var pS, pD []classify.Mask
	if prev != nil {
		pProto, pS, pD = prev.Proto, prev.SPort, prev.DPort
	}
	if err := writeArray(o.ProtoMasks, gen*256, 256, protoDense(t.Proto), protoDense(pProto), prev == nil); err != nil {
		return fmt.Errorf("proto masks: %w", err)
	}
	if err := writeArray(o.SportMasks, gen*bpf.NumPorts, bpf.NumPorts, t.SPort, pS, prev == nil); err != nil {
		return fmt.Errorf("sport masks: %w", err)
	}
	if err := writeArray(o.DportMasks, gen*bpf.NumPorts, bpf.NumPorts, t.DPort, pD, prev == nil); err != nil {
		return fmt.Errorf("dport masks: %w", err)
	}
	if err := writeSel(o.Sel, gen, t.Sel, prev); err != nil {
		return err
	}
	if err := writeMultiIdx(o.MultiIdx, gen, t.MultiIdx); err != nil {
		return err
	}
	if err := c.writeIdents(gen, prev, t); err != nil {
		return err
	}
	gi, err := genInfo(t, tabs)
	if err != nil {
		return err
	}
	if err := c.writeAddrs(gen, prev, t); err != nil {
		return fmt.Errorf("address prefixes: %w", err)
	}
	if err := c.writeHashed(gen, prev, tabs, masks); err != nil {
		return fmt.Errorf("address hash tables: %w", err)
	}
	if err := o.GenInfos.Update(gen, gi, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("generation info: %w", err)
	}
	return nil
}

func protoDense(m map[uint8]classify.Mask) []classify.Mask {
	if m == nil {
		return nil
	}
	out := make([]classify.Mask, 256)
	for p, v := range m {
		out[p] = v
	}
	return out
}

// writeArray writes entries base..base+n-1 from tab (missing = zero).
// Unless all is set it writes only those non-zero in tab or in prev (what
// the generation held), so a small rule change is a small write.
func writeArray(m *ebpf.Map, base uint32, n int, tab, prev []classify.Mask, all bool) error {
	var keys []uint32
	var vals []bpf.ClassifierMask
	for i := range n {
		v, old := at(tab, i), at(prev, i)
		if all || !v.IsZero() || !old.IsZero() {
			keys = append(keys, base+uint32(i))
			vals = append(vals, v.BPF())
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := m.BatchUpdate(keys, vals, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)}); err != nil {
		return fmt.Errorf("batch update %d entries: %w", len(keys), err)
	}
	return nil
}

func at(tab []classify.Mask, i int) classify.Mask {
	if i < len(tab) {
		return tab[i]
	}
	return classify.Mask{}
}

// writeSel writes the selectors' values, and zeroes those prev (nil:
// unknown, so all of them) had beyond t's.
func writeSel(m *ebpf.Map, gen uint32, sel []classify.SelVal, prev *classify.Tables) error {
	n := bpf.SelEntries
	if prev != nil {
		n = max(len(sel), len(prev.Sel))
	}
	keys := make([]uint32, n)
	vals := make([]bpf.ClassifierSelVal, n)
	for i := range keys {
		keys[i] = gen*bpf.SelEntries + uint32(i)
		if i < len(sel) {
			vals[i] = bpf.ClassifierSelVal{App: sel[i].App, Classid: sel[i].Class.ClassID, ClassSlot: sel[i].Class.Slot}
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := m.BatchUpdate(keys, vals, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)}); err != nil {
		return fmt.Errorf("selector values: %w", err)
	}
	return nil
}

// continueCounter starts the fresh config of c where the one pinned in
// pinDir left off: flow entries hold generation counters of the old
// config, and a restart from 0 would make their verdicts look current.
func (c *Classifier) continueCounter(pinDir string) error {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, bpf.ClassifierMapConfigMap), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pinned config: %w", err)
	}
	defer m.Close()
	var cfg bpf.ClassifierConfig
	if err := m.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("read pinned config: %w", err)
	}
	// +2: the same active half (as the rules written so far assume), a
	// counter no entry holds.
	if err := c.objs.ConfigMap.Update(uint32(0), bpf.ClassifierConfig{Gen: cfg.Gen + 2}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// writeMultiIdx writes the whole multi_idx generation (it is small).
func writeMultiIdx(m *ebpf.Map, gen uint32, idx []uint32) error {
	keys := make([]uint32, bpf.MaxMulti)
	vals := make([]uint32, bpf.MaxMulti)
	for i := range keys {
		keys[i] = gen*bpf.MaxMulti + uint32(i)
		vals[i] = ^uint32(0)
		if i < len(idx) {
			vals[i] = idx[i]
		}
	}
	if _, err := m.BatchUpdate(keys, vals, &ebpf.BatchOptions{ElemFlags: uint64(ebpf.UpdateAny)}); err != nil {
		return fmt.Errorf("multi-field selector numbers: %w", err)
	}
	return nil
}
