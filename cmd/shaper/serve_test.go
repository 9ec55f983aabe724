package main

import (
	"strings"
	"testing"
)

// serve refuses what it cannot serve safely before it touches anything:
// exit 2 with what to do.
func TestServeBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"non-loopback without --allow-remote", []string{"serve", "--listen", "0.0.0.0:19610"}, "--allow-remote"},
		{"every address", []string{"serve", "--listen", ":19610"}, "not a loopback address"},
		{"no port", []string{"serve", "--listen", "127.0.0.1"}, "host:port"},
		{"log format", []string{"serve", "--log-format", "xml"}, "text or json"},
		{"missing namespace", []string{"serve", "--netns", "shaper-no-such-netns-x"}, "does not exist"},
		{"extra argument", []string{"serve", "policy.yaml"}, "arg"},
		{"interval", []string{"serve", "--interval", "1500ms"}, "whole seconds"},
		{"retention", []string{"serve", "--history-retention", "4x"}, "400d"},
		{"size", []string{"serve", "--history-max-size", "lots"}, "1GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.args...)
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Errorf("shaper %s: exit %d, output:\n%s\nwant exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
			}
		})
	}
}
