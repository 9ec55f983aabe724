package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/shaperdev/shaper/exporter"
	"github.com/shaperdev/shaper/policy"
)

// needTool returns the path of a tool the check needs; without it the test
// skips, or fails in CI (make deps installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: make deps installs the Debian package %s", name, pkg)
		}
		t.Skipf("%s not found (Debian package %s; make deps installs it)", name, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

var metricName = regexp.MustCompile(`\bshaper_[a-z_]+\b`)

// Every metric the dashboard and rules name is one the collector emits.
func checkNames(t *testing.T, where, expr string) {
	t.Helper()
	known := exporter.MetricNames()
	for _, n := range metricName.FindAllString(expr, -1) {
		if !slices.Contains(known, n) {
			t.Errorf("%s: %s is not a metric shaper serve emits (%v)", where, n, known)
		}
	}
}

func TestDashboard(t *testing.T) {
	d, err := LoadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		checkNames(t, "variable "+v.Name, v.Definition)
	}
	for _, want := range []string{"datasource", "netns", "iface"} {
		if !slices.Contains(vars, want) {
			t.Errorf("dashboard lacks the variable %s (has %v)", want, vars)
		}
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkNames(t, "panel "+p.Title, tg.Expr)
			if !strings.Contains(tg.Expr, `netns=~"$netns"`) || !strings.Contains(tg.Expr, `iface=~"$iface"`) {
				t.Errorf("panel %q ignores the netns/iface variables: %s", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{"Apps: upload", "Apps: download", "Classes: upload", "Classes: download",
		"Utilisation against configured rate", "Drops", "Top apps"} {
		if !titles[want] {
			t.Errorf("dashboard lacks the panel %q", want)
		}
	}
}

func TestRules(t *testing.T) {
	r, err := LoadRules()
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			checkNames(t, "rule "+rule.Record+rule.Alert, rule.Expr)
			if rule.Alert != "" {
				alerts = append(alerts, rule.Alert)
				if !threshold.MatchString(rule.Expr) {
					t.Errorf("alert %s: write its expression as <signal> > <threshold>: %s", rule.Alert, rule.Expr)
				}
			}
		}
	}
	for _, want := range []string{"ShaperClassSaturated", "ShaperClassDropsRising", "ShaperMapNearlyFull"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("rules lack the alert %s", want)
		}
	}
	run(t, needTool(t, "promtool", "prometheus"), "check", "rules", filepath.Join("prometheus", "rules.yml"))
}

func TestScrapeConfigs(t *testing.T) {
	for _, f := range []string{"scrape.yml", "scrape-kubernetes.yml"} {
		var v map[string]any
		data, err := os.ReadFile(filepath.Join("prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Debian's promtool lacks Kubernetes discovery: it checks the plain one.
	run(t, needTool(t, "promtool", "prometheus"), "check", "config", "--syntax-only", filepath.Join("prometheus", "scrape.yml"))
}

// decodeStrict decodes a manifest into its API type; a field the type does
// not have fails.
func decodeStrict(t *testing.T, file string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestKubernetes(t *testing.T) {
	var ds appsv1.DaemonSet
	decodeStrict(t, "daemonset.yaml", &ds)
	var svc corev1.Service
	decodeStrict(t, "service.yaml", &svc)
	var cm corev1.ConfigMap
	decodeStrict(t, "configmap.yaml", &cm)
	var ns corev1.Namespace
	decodeStrict(t, "namespace.yaml", &ns)

	if ds.Kind != "DaemonSet" || svc.Kind != "Service" || cm.Kind != "ConfigMap" || ns.Kind != "Namespace" {
		t.Fatalf("kinds: %s %s %s %s", ds.Kind, svc.Kind, cm.Kind, ns.Kind)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("the DaemonSet must use the host network: it shapes the node's interfaces")
	}
	if got, want := ds.Spec.Template.Labels, svc.Spec.Selector; !selects(want, got) || !selects(ds.Spec.Selector.MatchLabels, got) {
		t.Errorf("selectors %v / %v do not select the pod labels %v", want, ds.Spec.Selector.MatchLabels, got)
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil {
		t.Fatal("the container must not be privileged and must name its capabilities")
	}
	var caps []string
	for _, c := range sc.Capabilities.Add {
		caps = append(caps, "CAP_"+string(c))
	}
	if unit := unitCaps(t); !slices.Equal(caps, unit) {
		t.Errorf("DaemonSet capabilities %v differ from the systemd unit's %v", caps, unit)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("drop: %v, want [ALL]", sc.Capabilities.Drop)
	}
	if c.Ports[0].ContainerPort != exporter.DefaultPort || svc.Spec.Ports[0].Port != exporter.DefaultPort {
		t.Errorf("ports %d/%d, want %d", c.Ports[0].ContainerPort, svc.Spec.Ports[0].Port, exporter.DefaultPort)
	}
	if spec.Volumes[0].ConfigMap == nil || spec.Volumes[0].ConfigMap.Name != cm.Name {
		t.Errorf("the policy volume does not mount the ConfigMap %s", cm.Name)
	}
	// The shipped policy is a valid policy.
	if _, err := policy.Parse("configmap.yaml:policy.yaml", []byte(cm.Data["policy.yaml"])); err != nil {
		t.Errorf("the ConfigMap's policy: %v", err)
	}
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

const unitFile = "systemd/shaper-serve.service"

// unitCaps are the capabilities the systemd unit keeps.
func unitCaps(t *testing.T) []string {
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("the unit has no CapabilityBoundingSet")
	return nil
}

// systemd-analyze verify checks the unit; it wants ExecStart's binary to
// exist, so the check runs on a copy pointing at an executable that does.
func TestSystemdUnit(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: the unit is checked where systemd is")
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "/usr/local/bin/shaper", self)
	if strings.Count(string(data), "/usr/local/bin/shaper") != 1 {
		t.Fatal("the unit should run /usr/local/bin/shaper exactly once")
	}
	copyPath := filepath.Join(t.TempDir(), "shaper-serve.service")
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "verify", copyPath)
	out, err := cmd.CombinedOutput()
	// verify prints about other units of the machine too: only lines
	// naming ours count.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "shaper-serve.service") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
