package loader

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/shaperdev/shaper/bpf"
	"github.com/shaperdev/shaper/classify"
	"github.com/shaperdev/shaper/classify/classifytest"
)

// TestClassifierDifferential holds the BPF program against the reference
// matcher: random policies (each installed with a generation swap into the
// same loaded program) × random packets, some VLAN-tagged or carried in
// IPv6 extension headers. Each packet's app is read from the app counter
// that advanced and its class from skb->priority. Address fields take the
// path Compile chose (hash probes for few prefix lengths, the LPM trie for
// more); one policy in four is installed with every field forced to the
// trie, so the same policies also run the fallback and path switches
// between generations are exercised.
// SHAPER_DIFF_POLICIES overrides the number of policies.
func TestClassifierDifferential(t *testing.T) {
	c := loadTestClassifier(t, Knobs{Shaped: true}, "")
	policies, packets := 2000, 40 // "thousands of random policies"; an update with wide port ranges rewrites 2×65536 entries
	if testing.Short() {
		policies = 200
	}
	if n, err := strconv.Atoi(os.Getenv("SHAPER_DIFF_POLICIES")); err == nil {
		policies = n
	}
	r := rand.New(rand.NewPCG(5, 6))
	matched := 0
	var paths classifytest.Paths
	for i := range policies {
		apps := classifytest.Apps(r, 8)
		b := classifytest.Binding(r, apps)
		tab, err := classify.Compile(apps, b)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		if r.IntN(4) == 0 {
			for f := range tab.Addr {
				tab.Addr[f].LPM = true
			}
		}
		paths.Add(tab)
		if err := c.Update(tab); err != nil {
			t.Fatalf("update: %v", err)
		}
		for range packets {
			p := classifytest.Packet(r)
			o := clsOpt{vlans: r.IntN(3)}
			if p.Src.Is6() && r.IntN(3) == 0 {
				o.v6Ext, o.v6First = append(append([]byte{}, clsHopByHop...), clsRouting...), 0
			}
			pkt := clsBuild(t, p, o)
			want := classify.Match(apps, b, p)
			before := clsCount(t, c.objs.AppStats, want.App)
			ret, prio, err := clsRun(c.Program(), pkt, 0, 0, 0)
			if err != nil || ret != bpf.TCXNext {
				t.Fatalf("run: ret %d err %v", int32(ret), err)
			}
			got := clsDelta(clsCount(t, c.objs.AppStats, want.App), before)
			if got.Packets != 1 || prio != want.ClassID {
				t.Fatalf("policy %d %+v\naddress plans %+v\npacket %+v (vlans %d, ext %d bytes)\nwant app %d class %#x; "+
					"app %d counted %d packets, priority %#x",
					i, apps, tab.Addr, p, o.vlans, len(o.v6Ext), want.App, want.ClassID, want.App, got.Packets, prio)
			}
			if want.App != 0 {
				matched++
			}
		}
	}
	if total := policies * packets; matched < total/5 {
		t.Errorf("only %d of %d packets matched an app: the test says little", matched, total)
	}
	if err := paths.Enough(policies / 10); err != nil {
		t.Error(err)
	}
	t.Logf("%d policies × %d packets agree; %d packets matched an app; address fields: %+v", policies, packets, matched, paths)
}
