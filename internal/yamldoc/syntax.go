package yamldoc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"
)

// syntaxError turns the parser's error into one that names the culprit:
// the parser stops where it notices a problem, which is often lines after
// the mistake (an unclosed '[' is noticed at the next key), so the common
// mistakes are traced back to where they were made.
func syntaxError(file string, src []byte, err error) *Error {
	var se *yaml.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		return Errorf(Pos{File: file}, "", "invalid YAML: %v", err)
	}
	tk, msg := se.Token, se.Message
	at := func(line, col int) Pos { return Pos{File: file, Line: line, Col: col} }
	pos := at(tk.Position.Line, tk.Position.Column)
	lines := strings.Split(string(src), "\n")
	switch {
	case strings.Contains(msg, "',' or ']'"), strings.Contains(msg, "',' or '}'"),
		strings.Contains(msg, "end token"), strings.Contains(msg, "flow"):
		if e := unclosed(tk, at); e != nil {
			return e
		}
	case strings.Contains(msg, "'\\t'"), strings.Contains(msg, "\t"):
		return tabError(lines, pos)
	case strings.Contains(msg, "quoted text"):
		return quoteError(lines, pos)
	case strings.HasPrefix(msg, "mapping value is not allowed"):
		return keyInValue(tk, lines, at)
	case strings.HasPrefix(msg, "value is not allowed"):
		return misplaced(tk, lines, pos)
	}
	return Errorf(pos, "", "invalid YAML: %s", msg)
}

// unclosed finds the '[' or '{' that is still open where the parser gave
// up at tk, or a closer that does not match its opener.
func unclosed(tk *token.Token, at func(line, col int) Pos) *Error {
	first := tk
	for first.Prev != nil {
		first = first.Prev
	}
	// When the parser names an opener, the mistake may lie anywhere after
	// it; otherwise it lies before tk.
	end := tk
	if isOpener(tk) {
		end = nil
	}
	var stack []*token.Token
	for t := first; t != nil; t = t.Next {
		closer, col := closerIn(t, len(stack) > 0)
		switch {
		case isOpener(t):
			stack = append(stack, t)
		case closer != "" && len(stack) > 0:
			top := stack[len(stack)-1]
			if closerOf(top) != closer {
				return Errorf(at(t.Position.Line, col),
					fmt.Sprintf("write '%s' to close the '%s' at %s", closerOf(top), top.Value,
						at(top.Position.Line, top.Position.Column).LineCol()),
					"invalid YAML: '%s' does not close the '%s' opened before it", closer, top.Value)
			}
			stack = stack[:len(stack)-1]
		}
		if t == end {
			break
		}
	}
	open := tk
	if !isOpener(tk) {
		if len(stack) == 0 {
			return nil
		}
		open = stack[len(stack)-1]
	}
	what := "list"
	if open.Type == token.MappingStartType {
		what = "mapping"
	}
	hint := fmt.Sprintf("add '%s' where the %s ends", closerOf(open), what)
	if tk != open && tk.Position.Line > open.Position.Line {
		hint += fmt.Sprintf(", before line %d", tk.Position.Line)
	}
	return Errorf(at(open.Position.Line, open.Position.Column), hint,
		"invalid YAML: the %s opened here with '%s' is never closed", what, open.Value)
}

// closerIn returns the ']' or '}' that t is or, inside a flow collection,
// that a plain scalar ends with ("2}" in "[1, 2}": the scanner only splits
// off the closers it expects), and its column.
func closerIn(t *token.Token, inFlow bool) (string, int) {
	switch {
	case t.Type == token.SequenceEndType || t.Type == token.MappingEndType:
		return t.Value, t.Position.Column
	case inFlow && t.Type == token.StringType:
		if i := strings.IndexAny(t.Value, "]}"); i >= 0 {
			return t.Value[i : i+1], t.Position.Column + len([]rune(t.Value[:i]))
		}
	}
	return "", 0
}

func isOpener(t *token.Token) bool {
	return t.Type == token.SequenceStartType || t.Type == token.MappingStartType
}

func closerOf(open *token.Token) string {
	if open.Type == token.SequenceStartType {
		return "]"
	}
	return "}"
}

// tabError points at the first tab at or after pos.
func tabError(lines []string, pos Pos) *Error {
	const hint = "YAML indents with spaces only: replace the tab with spaces"
	line, col, ok := find(lines, pos, "\t")
	if !ok {
		return Errorf(pos, hint, "invalid YAML: a tab cannot start a value")
	}
	pos.Line, pos.Col = line, col
	if strings.TrimLeft(string([]rune(lines[line-1])[:col-1]), " \t") == "" {
		return Errorf(pos, hint, "invalid YAML: this line is indented with a tab")
	}
	return Errorf(pos, hint, "invalid YAML: a tab cannot start a value")
}

// quoteError points at the quote that opens a string with no end.
func quoteError(lines []string, pos Pos) *Error {
	line, col, ok := find(lines, pos, `"'`)
	if !ok {
		return Errorf(pos, "close the quoted string", "invalid YAML: a quoted string is never closed")
	}
	pos.Line, pos.Col = line, col
	q := string([]rune(lines[line-1])[col-1])
	return Errorf(pos, fmt.Sprintf("add the closing %s at the end of the string", q),
		"invalid YAML: the string opened here with %s is never closed", q)
}

// find returns the position of the first of chars at or after pos.
func find(lines []string, pos Pos, chars string) (line, col int, ok bool) {
	for l := max(pos.Line, 1); l <= len(lines); l++ {
		runes := []rune(lines[l-1])
		from := 0
		if l == pos.Line {
			from = max(pos.Col-1, 0)
		}
		for i := from; i < len(runes); i++ {
			if strings.ContainsRune(chars, runes[i]) {
				return l, i + 1, true
			}
		}
	}
	return 0, 0, false
}

// keyInValue explains "key: value: more" and a key indented deeper than
// its siblings, which YAML reads as the previous value going on.
func keyInValue(tk *token.Token, lines []string, at func(line, col int) Pos) *Error {
	colon := tk.Next
	if colon == nil || colon.Type != token.MappingValueType || colon.Position.Line == tk.Position.Line {
		return Errorf(at(tk.Position.Line, tk.Position.Column),
			"put the key on a line of its own, or quote the value if the ': ' belongs to it",
			"invalid YAML: a key cannot start inside this value")
	}
	// The value ran on into the next line: that line's key is indented
	// deeper than the key above it.
	l := colon.Position.Line
	text := []rune(lines[l-1])
	col := 1
	for col <= len(text) && text[col-1] == ' ' {
		col++
	}
	hint := "indent it like the other keys of its mapping"
	if k := keyBefore(colon); k != nil {
		hint = fmt.Sprintf("line it up with %q on line %d (column %d)", k.Value, k.Position.Line, k.Position.Column)
	}
	return Errorf(at(l, col), hint, "invalid YAML: this key is indented more than the key above it")
}

// misplaced explains a value where none can stand: a closer that closes
// nothing, a key beside list items, or a key indented less than its
// siblings but more than its parent.
func misplaced(tk *token.Token, lines []string, pos Pos) *Error {
	if c, _ := closerIn(tk, true); c != "" && strings.HasPrefix(tk.Value, c) {
		open := map[string]string{"]": "[", "}": "{"}[c]
		return Errorf(pos, fmt.Sprintf("remove it, or add the '%s' it should close", open),
			"invalid YAML: this '%s' closes nothing", c)
	}
	if prev := previousLine(lines, pos.Line); prev != "" {
		trimmed := strings.TrimLeft(prev, " ")
		if len(prev)-len(trimmed) == pos.Col-1 && strings.HasPrefix(trimmed, "- ") {
			return Errorf(pos, fmt.Sprintf(`make it an item ("- %s") or indent it like the keys of the mapping it belongs to`, strings.TrimSpace(lines[pos.Line-1])),
				"invalid YAML: a key cannot stand beside list items at the same indentation")
		}
	}
	hint := "indent it like the other keys of its mapping"
	if k := keyBefore(tk); k != nil && k.Position.Column != tk.Position.Column {
		hint = fmt.Sprintf("line it up with %q on line %d (column %d)", k.Value, k.Position.Line, k.Position.Column)
	}
	return Errorf(pos, hint, "invalid YAML: this line is not indented like the lines above it")
}

// previousLine returns the nearest line above line that holds more than
// spaces and comments.
func previousLine(lines []string, line int) string {
	for l := line - 1; l >= 1 && l <= len(lines); l-- {
		if t := strings.TrimSpace(lines[l-1]); t != "" && !strings.HasPrefix(t, "#") {
			return lines[l-1]
		}
	}
	return ""
}

// keyBefore returns the nearest key before tk on an earlier line.
func keyBefore(tk *token.Token) *token.Token {
	for t := tk.Prev; t != nil; t = t.Prev {
		if t.Type == token.MappingValueType && t.Prev != nil && t.Prev.Position.Line < tk.Position.Line {
			return t.Prev
		}
	}
	return nil
}
