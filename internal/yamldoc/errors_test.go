package yamldoc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("a, ", 100) + "BAD" + strings.Repeat(", b", 100)
	tests := []struct {
		name      string
		line, col int
		text      string
		want      string
	}{
		{"plain", 4, 12, "    match: [{proto: tcp}", "  4 |     match: [{proto: tcp}\n    |            ^"},
		{"no column", 12, 0, "a: b", "  12 | a: b"},
		{"tab kept before the caret", 3, 3, "\t\tx: 1", "  3 | \t\tx: 1\n    | \t\t^"},
		{"past the end", 1, 9, "a: [", "  1 | a: [\n    |     ^"},
		{"unicode", 1, 7, "name: ü x", "  1 | name: ü x\n    |       ^"},
		{"long line cut around the column", 7, 301, long,
			"  7 | ..." + long[260:340] + "...\n    |    " + strings.Repeat(" ", 40) + "^"},
		{"long line, column near the start", 7, 1, long, "  7 | " + long[:80] + "...\n    | ^"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quote(tt.line, tt.col, tt.text); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestListPrintsAtMost20(t *testing.T) {
	var l List
	for i := range 25 {
		l = append(l, Errorf(Pos{File: "f.yaml", Line: 25 - i, Col: 1}, "fix it", "problem %d", i))
	}
	if err := l.Report("f.yaml", []byte(strings.Repeat("x: 1\n", 25))); err == nil {
		t.Fatal("Report of 25 errors is nil")
	}
	lines := strings.Split(l.Error(), "\n")
	if len(lines) != 61 || lines[0] != "f.yaml:1:1: problem 24; fix it" || lines[1] != "  1 | x: 1" ||
		lines[60] != "... and 5 more errors" {
		t.Fatalf("%d lines:\n%s", len(lines), l.Error())
	}
	var e *Error
	if !errors.As(error(l), &e) || e.Pos.Line != 1 || !l.BadInput() {
		t.Errorf("errors.As found %v", e)
	}
	if (List{}).Err() != nil {
		t.Error("an empty list is an error")
	}
	if got := l[:21].Error(); !strings.HasSuffix(got, "\n... and 1 more error") {
		t.Errorf("21 errors end with %q", got[len(got)-30:])
	}
}

func TestFirstAtEachPos(t *testing.T) {
	at := func(l, c int) Pos { return Pos{File: "f", Line: l, Col: c} }
	l := List{Errorf(at(2, 1), "", "b"), Errorf(at(1, 1), "", "a"), Errorf(at(2, 1), "", "c"), Errorf(Pos{File: "f"}, "", "x"), Errorf(Pos{File: "f"}, "", "y")}
	l.Sort()
	var got []string
	for _, e := range l.FirstAtEachPos() {
		got = append(got, e.Msg)
	}
	if fmt.Sprint(got) != "[x y a b]" {
		t.Errorf("got %v", got)
	}
}

func TestSuggest(t *testing.T) {
	for word, want := range map[string]string{"interface": "interfaces", "wbe": "web", "dports": "dport", "zzz": "", "x": ""} {
		if got := Suggest(word, []string{"interfaces", "web", "dport", "apps"}); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
	if got := KeyHint("zzz", []string{"a", "b", "c"}); got != `known keys are "a", "b" or "c"` {
		t.Errorf("KeyHint = %q", got)
	}
}
