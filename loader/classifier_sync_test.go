package loader

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// Rules written as re-applies write them (maps opened from pins, what each
// generation holds assumed from the record, inactive generation written,
// flip, then the other generation mirrored) leave every rule map exactly
// as a full write of the same rules does: no stale entry survives the
// diff-only writes.
func TestMirrorAssumeMatchesFullWrite(t *testing.T) {
	labtest.Root(t)
	dir, err := os.MkdirTemp(BPFFSRoot, "shaper-sync-test-")
	if err != nil {
		t.Fatalf("pin dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir = filepath.Join(dir, "egress") // a hook's directory: the shared maps go beside it
	ids := map[string]uint32{"web": 1, "lan": 2, "dns": 3}
	rules := []*classify.Tables{
		compileText(t, `  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}
  - {name: lan, match: [{dst: [198.18.0.0/15, 198.18.7.0/24, fd00::/8]}, {src: [198.18.0.0/16, 198.18.1.0/24, 198.18.1.128/25, 198.18.1.4/30, 198.18.1.8/29, 198.18.2.2/32]}]}
`, ids),
		compileText(t, `  - {name: web, match: [{proto: tcp, dport: 8000-8100}]}
  - {name: lan, match: [{dst: [198.18.0.0/15, fd00:1::/32]}, {src: [198.18.0.0/16, 198.18.1.0/24, 198.18.3.0/24, 198.18.1.4/30, 198.18.1.16/29, 198.18.2.2/32]}]}
`, ids),
		compileText(t, `  - {name: dns, match: [{proto: udp, sport: 53}, {proto: icmp}]}
  - {name: lan, match: [{dst: [198.19.0.0/16]}]}
`, ids),
	}
	knobs := Knobs{Shaped: true}
	c, fresh, err := LoadClassifierKnown(knobs, dir, rules[0])
	if err != nil || !fresh {
		t.Fatalf("load: fresh %v, %v", fresh, err)
	}
	if err := c.Update(rules[0]); err != nil {
		t.Fatal(err)
	}
	gen, _ := c.Gen()
	var held [bpf.NumGens]*classify.Tables
	held[gen], held[gen^1] = rules[0], &classify.Tables{}
	c.Close()
	// The reference: unpinned, every write a full one (written unknown).
	ref, err := LoadClassifierFor(knobs, "", rules[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	for step, next := range []*classify.Tables{rules[1], rules[2], rules[0], rules[0], rules[2]} {
		o, err := OpenPinned(dir)
		if err != nil {
			t.Fatal(err)
		}
		for g, tab := range held {
			o.Assume(uint32(g), tab)
		}
		if err := o.Update(next); err != nil {
			t.Fatalf("step %d: update: %v", step, err)
		}
		if err := o.Mirror(next, true); err != nil {
			t.Fatalf("step %d: mirror: %v", step, err)
		}
		held = [bpf.NumGens]*classify.Tables{next, next}
		got := dumpRules(t, o)
		o.Close()

		ref.written = [bpf.NumGens]*classify.Tables{}
		if err := ref.Update(next); err != nil {
			t.Fatal(err)
		}
		if err := ref.Mirror(next, false); err != nil {
			t.Fatal(err)
		}
		want := dumpRules(t, ref)
		for name, w := range want {
			g := got[name]
			if len(g) != len(w) {
				t.Errorf("step %d: %s has %d entries, a full write %d", step, name, len(g), len(w))
				continue
			}
			for k, v := range w {
				if g[k] != v {
					t.Errorf("step %d: %s[%s] = %s, a full write gives %s", step, name, k, g[k], v)
					break
				}
			}
		}
	}
}

// dumpRules reads every rule map but the generation switch, zero values
// left out.
func dumpRules(t *testing.T, c *Classifier) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for name, m := range c.ruleMaps() {
		if name == bpf.ClassifierMapConfigMap {
			continue
		}
		entries := map[string]string{}
		if m.Type() == ebpf.Array {
			dumpArray(t, m, entries)
			out[name] = entries
			continue
		}
		var k, v []byte
		it := m.Iterate()
		for it.Next(&k, &v) {
			if nonZeroBytes(v) {
				entries[hex.EncodeToString(k)] = hex.EncodeToString(v)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatalf("dump %s: %v", name, err)
		}
		out[name] = entries
	}
	return out
}

// dumpArray reads an array map in one batch (one entry at a time is
// minutes for the port tables).
func dumpArray(t *testing.T, m *ebpf.Map, entries map[string]string) {
	t.Helper()
	n, size := int(m.MaxEntries()), int(m.ValueSize())
	keys := make([]uint32, n)
	vals := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(size, reflect.TypeFor[byte]())), n, n)
	var cursor ebpf.MapBatchCursor
	got, err := m.BatchLookup(&cursor, keys, vals.Interface(), nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatalf("dump %s: %v", m, err)
	}
	if got != n {
		t.Fatalf("dump %s: %d of %d entries", m, got, n)
	}
	for i, k := range keys {
		v := make([]byte, size)
		reflect.Copy(reflect.ValueOf(v), vals.Index(i))
		if nonZeroBytes(v) {
			entries[fmt.Sprint(k)] = hex.EncodeToString(v)
		}
	}
}

func nonZeroBytes(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return true
		}
	}
	return false
}
