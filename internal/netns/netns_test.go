package netns_test

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/shaperdev/shaper/internal/netns"
	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
)

// newNetns creates a uniquely named namespace with Create and deletes it
// with Delete when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	labtest.Root(t)
	name := labtest.UniqueName("nst-")
	if err := netns.Create(name); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("delete %s: %v", name, err)
		}
	})
	return name
}

// threadNetns is the namespace of the calling goroutine's (locked) thread.
func threadNetns(t *testing.T) vns.NsHandle {
	t.Helper()
	h, err := vns.Get()
	if err != nil {
		t.Fatalf("get thread netns: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestRunSeesTheNamespacesLinks(t *testing.T) {
	name := newNetns(t)
	peer := labtest.UniqueName("nv") // a veth made inside: only there
	err := netns.Run(name, func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: peer + "a"}, PeerName: peer + "b"})
	})
	if err != nil {
		t.Fatalf("add veth inside: %v", err)
	}
	var names []string
	err = netns.Run(name, func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, ",")
	if !strings.Contains(got, peer+"a") || !strings.Contains(got, peer+"b") || len(names) != 3 {
		t.Errorf("inside %s fn sees links %s; want lo, %sa, %sb", name, got, peer, peer)
	}
	if _, err := netlink.LinkByName(peer + "a"); err == nil {
		t.Errorf("the veth made inside %s shows in the caller's namespace", name)
	}
}

func TestRunLeavesTheCallerWhereItWas(t *testing.T) {
	name := newNetns(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNetns(t)
	var inside vns.NsHandle
	err := netns.Run(name, func() (err error) {
		inside, err = vns.Get()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	target, err := vns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if !inside.Equal(target) {
		t.Errorf("fn ran in %s, not in %s", inside, name)
	}
	if after := threadNetns(t); !after.Equal(before) {
		t.Errorf("the caller's thread moved: %s before, %s after", before, after)
	}
}

// Threads Run used go back to the pool in their first namespace: after many
// runs, every goroutine still finds itself in the test's namespace.
func TestRunReturnsItsThreads(t *testing.T) {
	name := newNetns(t)
	runtime.LockOSThread()
	home := threadNetns(t)
	runtime.UnlockOSThread()
	for range 50 {
		if err := netns.Run(name, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			h, err := vns.Get()
			if err != nil {
				return
			}
			defer h.Close()
			if !h.Equal(home) {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wrong > 0 {
		t.Errorf("%d goroutines ran on a thread left in another namespace", wrong)
	}
}

func TestRunReturnsFnsError(t *testing.T) {
	name := newNetns(t)
	boom := errors.New("boom")
	if err := netns.Run(name, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Run returned %v, want fn's error", err)
	}
}

func TestRunMissingNamespace(t *testing.T) {
	labtest.Root(t)
	name := labtest.UniqueName("nst-none-")
	called := false
	err := netns.Run(name, func() error { called = true; return nil })
	if called {
		t.Error("fn ran although the namespace does not exist")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("want an error matching os.ErrNotExist, got %v", err)
	}
	var nx *netns.NotExistError
	if !errors.As(err, &nx) || nx.Name != name || !strings.Contains(err.Error(), "ip netns add "+name) {
		t.Errorf("error should name %s and say how to create it: %v", name, err)
	}
}

func TestRunPanicReachesTheCaller(t *testing.T) {
	name := newNetns(t)
	defer func() {
		if v := recover(); v != "inside" {
			t.Errorf("recovered %v, want the panic of fn", v)
		}
	}()
	_ = netns.Run(name, func() error { panic("inside") })
	t.Error("Run returned after fn panicked")
}

func TestRunPrivate(t *testing.T) {
	labtest.Root(t)
	var links []netlink.Link
	err := netns.RunPrivate(func() (err error) {
		links, err = netlink.LinkList()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" {
		t.Errorf("a private namespace should hold lo only, has %d links", len(links))
	}
}

func TestCreateDelete(t *testing.T) {
	name := newNetns(t)
	if !netns.Exists(name) {
		t.Fatalf("%s does not exist after Create", name)
	}
	if err := netns.Create(name); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Create: %v, want os.ErrExist", err)
	}
	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(name) {
		t.Errorf("%s exists after Delete", name)
	}
	if err := netns.Delete(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete of a missing namespace: %v, want os.ErrNotExist", err)
	}
}

// t.FailNow inside fn ends the caller's goroutine, as it would without Run.
func TestRunGoexitEndsTheCaller(t *testing.T) {
	name := newNetns(t)
	after := make(chan bool, 1)
	go func() {
		defer close(after)
		_ = netns.Run(name, func() error { runtime.Goexit(); return nil })
		after <- true
	}()
	if <-after {
		t.Error("the caller went on after fn called runtime.Goexit")
	}
}
