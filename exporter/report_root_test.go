package exporter_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/report"
	"github.com/shaperdev/shaper/shaper"
)

// Two apps capped at known rates (ceil = rate): a backlogged upload runs at
// exactly its class's rate, so the report's rates have a known truth.
const reportPolicy = `version: 1
apps:
  - {name: web,  match: [{proto: tcp, dport: 5301}]}
  - {name: mail, match: [{proto: tcp, dport: 5302}]}
interfaces:
  - name: eth0
    egress:
      rate: 100mbit
      default: other
      classes:
        - {name: web,   rate: 8mbit, ceil: 8mbit, apps: [web]}
        - {name: mail,  rate: 4mbit, ceil: 4mbit, apps: [mail]}
        - {name: other, rate: 10mbit, ceil: 100mbit}
    ingress: {}
`

var reportBits = map[string]float64{"web": 8e6, "mail": 4e6}

// The report's totals per app equal the kernel's counters (the issue asks
// for 1%; the history counts every byte: samples after the last packet are
// waited for), its rates agree with the shaped rates within rateTol.
const totalTol = 0

// reportJSON runs `shaper report -o json` with args and decodes it.
func reportJSON(t *testing.T, bin string, args ...string) report.JSON {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"report", "-o", "json"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shaper report %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var r report.JSON
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("shaper report %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

func group(t *testing.T, r report.JSON, name string) report.Row {
	t.Helper()
	for _, g := range r.Groups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %q in the report %+v", name, r)
	return report.Row{}
}

// kernelAppBytes reads the client eth0's app counters (upload) as status
// does.
func kernelAppBytes(t *testing.T, ns string) map[string]uint64 {
	t.Helper()
	st, err := shaper.Status(shaper.StatusOptions{Netns: ns, CountersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, ifc := range st.Interfaces {
		for _, a := range ifc.Egress.Apps {
			out[a.Name] += a.Bytes
		}
	}
	return out
}

func agree(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	e := (got - want) / want
	t.Logf("%s: %.0f, want %.0f ±%.0f%% (%+.2f%%)", what, got, want, tol*100, e*100)
	if math.Abs(e) > tol {
		t.Errorf("%s: %.0f is %+.2f%% off %.0f", what, got, e*100, want)
	}
}

// `shaper serve` samples every second while two apps upload at shaped
// rates, web for 20 s and mail for 20 s from 6 s later; `shaper report`
// then tells each app's bytes as the kernel counted them, its average and
// peak as shaped, and draws the chart. Without history it says so and
// gives the kernel's totals.
func TestReportFromHistory(t *testing.T) {
	bin, lab, ns, pol := shapedLab(t, reportPolicy)
	state := t.TempDir()
	port := freePort(t)
	start(t, "shaper serve", 5*time.Minute, bin, "serve", "--netns", ns, "--policy", pol, "--state-dir", state,
		"--interval", "1s", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 30*time.Second, "shaper serve answering /healthz", func() bool {
		code, _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return err == nil && code == 200
	})
	for _, p := range []int{5301, 5302} {
		iperfServer(t, lab, "server", p)
	}
	const secs, stagger = 20, 6
	begin := map[string]time.Time{"web": time.Now()}
	web := iperfClient(t, lab, "client", "198.18.0.2", 5301, secs)
	time.Sleep(stagger * time.Second)
	begin["mail"] = time.Now()
	mail := iperfClient(t, lab, "client", "198.18.0.2", 5302, secs)
	for _, c := range []*exec.Cmd{web, mail} {
		if err := c.Wait(); err != nil {
			t.Fatalf("iperf3 client: %v", err)
		}
	}
	end := time.Now()
	time.Sleep(2500 * time.Millisecond) // two samples after the last packet
	kernel := kernelAppBytes(t, ns)

	all := reportJSON(t, bin, "--state-dir", state, "--netns", ns, "--since", "1h", "--direction", "up")
	if !strings.Contains(all.Source, state) || all.Step != "1s" {
		t.Errorf("source %q, step %q: want the history in %s at 1 s", all.Source, all.Step, state)
	}
	for app := range reportBits {
		agree(t, "report total vs kernel: app "+app, float64(group(t, all, app).Bytes), float64(kernel[app]), totalTol)
	}
	// Rates over the seconds each flow ran fully: from 2 s after its start
	// (TCP's slow start) to 2 s before its end.
	for app, want := range reportBits {
		from := begin[app].Truncate(time.Second).Add(3 * time.Second)
		to := begin[app].Truncate(time.Second).Add((secs - 2) * time.Second)
		checkReportRates(t, bin, state, ns, app, want, from, to)
	}
	checkReportChart(t, bin, state, ns, begin["web"].Add(-2*time.Second), end.Add(2*time.Second))
	checkKernelFallback(t, bin, ns, kernel)
}

// checkReportRates wants the report's average rate of app over [from, to)
// within rateTol of the shaped rate, and the peak rate of its class. The
// app counters count packets as they enter the queue, so a TCP flow whose
// window still grows shows up to 15% above the shaped rate in some second
// (the queue absorbs it); the class counters count what left the queue.
// The peak is over 5 s steps: a 1 s step's bytes depend on when within
// the second the sampler read the counters, and a read that takes 100 ms
// longer than the last adds 10% to a step.
func checkReportRates(t *testing.T, bin, state, ns, app string, want float64, from, to time.Time) {
	t.Helper()
	args := func(from, to time.Time, more ...string) []string {
		return append([]string{"--state-dir", state, "--netns", ns, "--direction", "up",
			"--since", from.Format(time.RFC3339), "--until", to.Format(time.RFC3339)}, more...)
	}
	span := fmt.Sprintf("%s..%s", from.Format("15:04:05"), to.Format("15:04:05"))
	r := reportJSON(t, bin, args(from, to)...)
	g := group(t, r, app)
	agree(t, "report average "+span+": app "+app, float64(g.AvgBits), want, rateTol)
	t.Logf("report peak over 1 s steps: app %s: %d (%+.1f%%)", app, *g.PeakBits, (float64(*g.PeakBits)/want-1)*100)
	cls := group(t, reportJSON(t, bin, args(from, to, "--by", "class")...), app)
	agree(t, "report average "+span+": class "+app, float64(cls.AvgBits), want, rateTol)
	t.Logf("report peak over 1 s steps: class %s: %d (%+.1f%%)", app, *cls.PeakBits, (float64(*cls.PeakBits)/want-1)*100)
	from5, to5 := from.Add(5*time.Second-time.Nanosecond).Truncate(5*time.Second), to.Truncate(5*time.Second)
	cls = group(t, reportJSON(t, bin, args(from5, to5, "--by", "class", "--step", "5s")...), app)
	if cls.PeakBits == nil {
		t.Fatalf("class %s: no peak", app)
	}
	agree(t, fmt.Sprintf("report peak over 5 s steps %s..%s: class %s", from5.Format("15:04:05"), to5.Format("15:04:05"), app),
		float64(*cls.PeakBits), want, rateTol)
}

// checkReportChart draws the run as a PNG chart and checks it decodes at
// its size with both apps' colours in it; SHAPER_WRITE_DOCS=1 writes it to
// docs/report-chart.png.
func checkReportChart(t *testing.T, bin, state, ns string, from, to time.Time) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chart.png")
	if os.Getenv("SHAPER_WRITE_DOCS") == "1" {
		path = filepath.Join("..", "docs", "report-chart.png")
	}
	out, err := exec.Command(bin, "report", "--state-dir", state, "--netns", ns, "--direction", "up", "-o", "png", "--out", path,
		"--since", from.Format(time.RFC3339), "--until", to.Format(time.RFC3339)).CombinedOutput()
	if err != nil {
		t.Fatalf("shaper report -o png: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s.X != report.ChartWidth || s.Y != report.ChartHeight {
		t.Errorf("chart is %v", s)
	}
	colours := map[color.RGBA]int{}
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			colours[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	// Tableau's first two colours: the two apps' areas.
	for _, c := range []color.RGBA{{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}} {
		if colours[c] < 2000 {
			t.Errorf("colour %v covers %d pixels: an app's area is missing", c, colours[c])
		}
	}
	t.Logf("chart %s: %d bytes, %d colours", path, len(b), len(colours))
}

// checkKernelFallback reports from a state directory without history: the
// report says so and gives the kernel's totals since the policy was applied.
func checkKernelFallback(t *testing.T, bin, ns string, kernel map[string]uint64) {
	t.Helper()
	r := reportJSON(t, bin, "--state-dir", t.TempDir(), "--netns", ns, "--direction", "up")
	if !strings.Contains(r.Note, "no history in") || !strings.Contains(r.Note, "since the policy was applied") || r.Step != "" {
		t.Errorf("fallback note %q, step %q", r.Note, r.Step)
	}
	for app := range reportBits {
		g := group(t, r, app)
		agree(t, "fallback total vs kernel: app "+app, float64(g.Bytes), float64(kernel[app]), totalTol)
		if g.PeakBits != nil {
			t.Errorf("app %s: a peak without history", app)
		}
	}
}

// Without `serve` ever run, the report still answers from the kernel
// counters after `shaper apply`, and says where its numbers come from.
func TestReportKernelFallback(t *testing.T) {
	bin, lab, ns, pol := shapedLab(t, reportPolicy)
	if out, err := exec.Command(bin, "apply", "--netns", ns, pol).CombinedOutput(); err != nil {
		t.Fatalf("shaper apply: %v\n%s", err, out)
	}
	for _, p := range []int{5301, 5302} {
		iperfServer(t, lab, "server", p)
	}
	clients := []*exec.Cmd{iperfClient(t, lab, "client", "198.18.0.2", 5301, 4), iperfClient(t, lab, "client", "198.18.0.2", 5302, 4)}
	for _, c := range clients {
		if err := c.Wait(); err != nil {
			t.Fatalf("iperf3 client: %v", err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	checkKernelFallback(t, bin, ns, kernelAppBytes(t, ns))
	out, err := exec.Command(bin, "report", "--state-dir", t.TempDir(), "--netns", ns, "-o", "png", "--out", filepath.Join(t.TempDir(), "x.png")).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "a chart needs history") {
		t.Errorf("a chart without history: exit %d, %s", code, out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// With --prometheus the report comes from a Prometheus server scraping
// serve every second: the same rates, from increase() over each step.
func TestReportFromPrometheus(t *testing.T) {
	bin, lab, ns, pol := shapedLab(t, reportPolicy)
	port := freePort(t)
	startServe(t, bin, ns, pol, port)
	prom := startPrometheus(t, fmt.Sprintf("127.0.0.1:%d", port))
	for _, p := range []int{5301, 5302} {
		iperfServer(t, lab, "server", p)
	}
	const secs = 20
	begin := time.Now()
	clients := []*exec.Cmd{iperfClient(t, lab, "client", "198.18.0.2", 5301, secs), iperfClient(t, lab, "client", "198.18.0.2", 5302, secs)}
	for _, c := range clients {
		if err := c.Wait(); err != nil {
			t.Fatalf("iperf3 client: %v", err)
		}
	}
	time.Sleep(3 * time.Second) // Prometheus has scraped the end
	// Whole 5 s steps inside the seconds both flows ran fully.
	from := begin.Add(3*time.Second + 5*time.Second - time.Nanosecond).Truncate(5 * time.Second)
	to := begin.Add((secs - 2) * time.Second).Truncate(5 * time.Second)
	for _, by := range []string{"app", "class"} {
		r := reportJSON(t, bin, "--prometheus", prom, "--netns", ns, "--direction", "up", "--by", by, "--step", "5s",
			"--since", from.Format(time.RFC3339), "--until", to.Format(time.RFC3339))
		if !strings.Contains(r.Source, prom) || r.Step != "5s" {
			t.Errorf("source %q, step %q", r.Source, r.Step)
		}
		span := fmt.Sprintf("%s..%s", from.Format("15:04:05"), to.Format("15:04:05"))
		for name, want := range reportBits {
			g := group(t, r, name)
			agree(t, fmt.Sprintf("Prometheus report average %s: %s %s", span, by, name), float64(g.AvgBits), want, rateTol)
			t.Logf("Prometheus report peak over 5 s steps: %s %s: %d (%+.1f%%)", by, name, *g.PeakBits, (float64(*g.PeakBits)/want-1)*100)
		}
	}
}
