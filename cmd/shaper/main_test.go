package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shaperdev/shaper/netlab/labtest"
	"github.com/shaperdev/shaper/policy"
)

// run executes the CLI in-process and returns its output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		return out.String() + err.Error(), exitCode(err)
	}
	return out.String(), 0
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodes(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "version: 1\napps:\n  - name: web\n    match: [{proto: tcp, dport: 99999}]\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"version", []string{"version"}, 0, "shaper "},
		{"validate example", []string{"validate", "../../examples/policy.yaml"}, 0, "ok"},
		{"validate bad port", []string{"validate", bad}, 2, "bad.yaml:4:"},
		{"validate missing file", []string{"validate", "/nonexistent/policy.yaml"}, 2, "/nonexistent/policy.yaml"},
		{"no args", []string{"apply"}, 2, "accepts 1 arg"},
		{"unknown flag", []string{"status", "--bogus"}, 2, "unknown flag"},
		{"bad flow table size", []string{"apply", "--flow-entries", "-1", "../../examples/policy.yaml"}, 2, "--flow-entries -1"},
		{"bad output", []string{"status", "-o", "yaml"}, 2, "-o table or -o json"},
		{"bad attach", []string{"apply", "--attach", "xdp", "--dry-run", "../../examples/policy.yaml"}, 2, "xdp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("shaper %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
			}
		})
	}
}

// A policy naming an interface or namespace that is not there is bad
// input: exit 2.
func TestApplyMissingNetnsExit2(t *testing.T) {
	labtest.Root(t)
	p := writeFile(t, "p.yaml", "version: 1\ninterfaces: [{name: eth0, netns: "+labtest.UniqueName("nope-")+", egress: {}}]\n")
	out, code := run(t, "apply", p)
	if code != 2 || !strings.Contains(out, "does not exist") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

// A broken file prints as the compiler prints: each error at its
// file:line:col with the line quoted; other errors get "shaper: ".
func TestPrintError(t *testing.T) {
	p := writeFile(t, "policy.yaml", "version: 1\napps:\n  - name: web\n    match: [{proto: tcp, dport: 443}\ninterfaces: []\n")
	out, code := run(t, "validate", p)
	if code != 2 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	_, err := policy.Load(p)
	var b bytes.Buffer
	printError(&b, err)
	want := p + ":4:12: invalid YAML: the list opened here with '[' is never closed; add ']' where the list ends, before line 5\n" +
		"  4 |     match: [{proto: tcp, dport: 443}\n" +
		"    |            ^\n"
	if b.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printError(&b, os.ErrNotExist)
	if b.String() != "shaper: file does not exist\n" {
		t.Errorf("printed %q", b.String())
	}
}

// delete and status act in one namespace: one that does not exist, or an
// interface shaper does not manage there, is bad input with a hint.
func TestScopeExit2(t *testing.T) {
	labtest.Root(t)
	nons := labtest.UniqueName("nope-")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "--netns", nons}, "does not exist"},
		{[]string{"status", "--netns", nons}, "does not exist"},
		{[]string{"delete", labtest.UniqueName("nif")}, "manages no interface"},
		{[]string{"delete", "-A", "--netns", nons}, "give one of them"},
	} {
		out, code := run(t, tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("shaper %s: exit %d, output:\n%s\nwant exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

func TestCompletion(t *testing.T) {
	out, code := run(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}
