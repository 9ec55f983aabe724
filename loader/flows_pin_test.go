package loader

import (
	"path/filepath"
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/netlab/labtest"
)

// An interface's hooks share one flow table pinned in its shared
// directory; a new size replaces it; removing the last hook removes it.
func TestFlowTableShared(t *testing.T) {
	labtest.Root(t)
	ns := labtest.UniqueName("flowpin") // names the pins only: nothing is attached
	const ifname = "nosuch0"
	t.Cleanup(func() { _ = RemoveIfacePins(ns, ifname) })
	eg := loadTestClassifier(t, Knobs{Shaped: true}, PinDir(ns, ifname, Egress))
	in := loadTestClassifier(t, Knobs{Ingress: true}, PinDir(ns, ifname, Ingress))
	if a, b := mapID(t, eg.objs.Flows), mapID(t, in.objs.Flows); a != b {
		t.Errorf("egress flows map %d, ingress %d: not shared", a, b)
	}
	if a, b := mapID(t, eg.objs.FlowMisses), mapID(t, in.objs.FlowMisses); a != b {
		t.Errorf("egress flow_misses %d, ingress %d: not shared", a, b)
	}
	shared := SharedDir(ns, ifname)
	mustExist(t, filepath.Join(shared, bpf.ClassifierMapFlows))
	mustNotExist(t, filepath.Join(PinDir(ns, ifname, Egress), bpf.ClassifierMapFlows))
	if got := eg.objs.Flows.MaxEntries(); got != DefaultFlowEntries {
		t.Errorf("flow table of %d entries, want the default %d", got, DefaultFlowEntries)
	}
	op, err := OpenPinned(PinDir(ns, ifname, Ingress))
	if err != nil {
		t.Fatal(err)
	}
	if mapID(t, op.objs.Flows) != mapID(t, eg.objs.Flows) {
		t.Error("OpenPinned did not open the shared flow table")
	}
	op.Close()

	small := loadTestClassifier(t, Knobs{Shaped: true, Flows: 1024}, PinDir(ns, ifname, Egress))
	if got := small.objs.Flows.MaxEntries(); got != 1024 {
		t.Errorf("flow table of %d entries after asking for 1024", got)
	}
	ft, err := ReadFlowTable(shared)
	if err != nil || ft.Capacity != 1024 {
		t.Errorf("pinned table: %+v %v, want capacity 1024", ft, err)
	}

	if err := DetachAll(ns, ifname, Egress); err != nil {
		t.Fatal(err)
	}
	mustExist(t, filepath.Join(shared, bpf.ClassifierMapFlows)) // ingress still has it
	if err := DetachAll(ns, ifname, Ingress); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, shared)
}
