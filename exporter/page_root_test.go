package exporter_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/netlab/labtest"
)

// The page in a real browser: headless Chromium loads / from a running
// `shaper serve` in a lab with two shaped uploads; the DOM the page's
// script built names both apps with their rates and draws both in the
// chart of the history serve records, and screenshots of a
// phone's and a desktop's window are kept as the test's artifacts
// (go test -artifacts -outputdir DIR keeps them; the path is logged).
func TestServePage(t *testing.T) {
	labtest.Root(t)
	chrome := chromiumBinary(t)
	// mail carries a quota it will not spend: the page shows its use.
	pagePolicy := strings.Replace(servePolicy, "{proto: tcp, dport: 5302}]}",
		"{proto: tcp, dport: 5302}], quota: {volume: 10GB, per: month, then: other}}", 1)
	bin, lab, ns, pol := shapedLab(t, pagePolicy)
	port := freePort(t)
	// History every second: the chart has points within the test.
	start(t, "shaper serve", 5*time.Minute, bin, "serve", "--netns", ns, "--policy", pol,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--state-dir", t.TempDir(), "--interval", "1s")
	waitFor(t, 30*time.Second, "shaper serve answering /healthz", func() bool {
		code, _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return err == nil && code == 200
	})
	const secs = 45
	for _, p := range []int{5301, 5302} {
		iperfServer(t, lab, "server", p)
	}
	for _, p := range []int{5301, 5302} {
		iperfClient(t, lab, "client", "198.18.0.2", p, secs)
	}
	time.Sleep(15 * time.Second) // the flows at their shaped rates, and in the history
	page := fmt.Sprintf("http://127.0.0.1:%d/", port)

	// The page fetches rates on load; a dump that caught it before the
	// first answer is taken again.
	var dom string
	var rows map[string]map[string]string
	for try := 1; ; try++ {
		dom = chromium(t, chrome, "--dump-dom", page)
		rows = domRows(dom)
		if rows["app web"] != nil && rows["app mail"] != nil || try == 3 {
			break
		}
	}
	out := t.ArtifactDir()
	if err := os.WriteFile(filepath.Join(out, "dom.html"), []byte(dom), 0o644); err != nil {
		t.Error(err)
	}
	// The chart drew a band per app, each named in the legend.
	for app := range wantBits {
		if !strings.Contains(dom, fmt.Sprintf(`<li data-series=%q>`, app)) {
			t.Errorf("app %s: not in the chart's legend", app)
		}
	}
	if n := strings.Count(dom, "<path "); n < 2 {
		t.Errorf("the chart has %d areas, want one per app", n)
	}
	for app, want := range wantBits {
		row := rows["app "+app]
		if row == nil {
			t.Errorf("app %s: no row in the DOM (rows: %v)", app, rows)
			continue
		}
		// Non-zero, and in bits per second: near the shaped rate, not 8
		// times off (bytes) nor 1000 (units). Loose on purpose: the rate is
		// over one second, and the classifier counts packets as they are
		// queued, those the queue then drops too.
		got := attrFloat(t, row, "data-up-bits")
		t.Logf("page: app %s up %.3f mbit/s (shaped at %.0f)", app, got/1e6, want/1e6)
		if got < want/2 || got > want*1.5 {
			t.Errorf("app %s: the page shows %.3f mbit/s up, shaped at %.0f", app, got/1e6, want/1e6)
		}
		class := rows["class "+app+" egress"]
		if class == nil || attrFloat(t, class, "data-rate-bits") != want {
			t.Errorf("class %s: row %v, want a configured %.0f", app, class, want)
			continue
		}
		// What left the class's queue: the shaped rate, within 10% over
		// the page's window of a second or more (measured: within 4%).
		got = attrFloat(t, class, "data-bits")
		t.Logf("page: class %s %.3f mbit/s", app, got/1e6)
		if got < want*0.9 || got > want*1.1 {
			t.Errorf("class %s: the page shows %.3f mbit/s, shaped at %.0f", app, got/1e6, want/1e6)
		}
	}
	if !strings.Contains(dom, `data-quota="mail"`) || !strings.Contains(dom, `data-limit="10000000000"`) {
		t.Errorf("the page shows no quota use of mail")
	}
	for name, size := range map[string]string{"page-phone.png": "412,915", "page-desktop.png": "1280,900"} {
		shot := filepath.Join(out, name)
		chromium(t, chrome, "--hide-scrollbars", "--window-size="+size, "--screenshot="+shot, page)
		if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
			t.Errorf("screenshot %s: %v", shot, err)
			continue
		}
		t.Logf("screenshot: %s", shot)
	}
}

// chromiumBinary finds Debian's chromium; make deps installs it.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found: make deps installs the Debian package chromium")
		}
		t.Skip("chromium not found (Debian package chromium; make deps installs it)")
	}
	return bin
}

// chromium runs one headless Chromium on url as a managed process and
// returns its output. Virtual time lets the page's first fetches finish
// before the DOM is dumped or the screenshot taken.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	argv := append([]string{bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000"}, args...)
	p := start(t, "chromium", 90*time.Second, argv...)
	if err := p.exited(t, 100*time.Second); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, p.out)
	}
	return p.out.String()
}

var trRe = regexp.MustCompile(`<tr( [^>]*)>`)
var attrRe = regexp.MustCompile(`(data-[a-z-]+)="([^"]*)"`)

// domRows indexes the table rows the script marked: "app NAME" and
// "class NAME DIRECTION", each with its data- attributes.
func domRows(dom string) map[string]map[string]string {
	rows := map[string]map[string]string{}
	for _, tr := range trRe.FindAllStringSubmatch(dom, -1) {
		a := map[string]string{}
		for _, m := range attrRe.FindAllStringSubmatch(tr[1], -1) {
			a[m[1]] = m[2]
		}
		switch {
		case a["data-app"] != "":
			rows["app "+a["data-app"]] = a
		case a["data-class"] != "":
			rows["class "+a["data-class"]+" "+a["data-direction"]] = a
		}
	}
	return rows
}

func attrFloat(t *testing.T, row map[string]string, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[name], 64)
	if err != nil {
		t.Errorf("%s=%q: %v", name, row[name], err)
	}
	return v
}
