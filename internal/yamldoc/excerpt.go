package yamldoc

import (
	"fmt"
	"strings"
)

// excerptWidth is how many characters of a long line an excerpt shows: a
// flow list of 30,000 prefixes sits on one line.
const excerptWidth = 80

// quote renders a source line under its line number, with a caret under
// column col (1-based, in characters) when col > 0:
//
//	4 |     match: [{proto: tcp, dport: 443}
//	  |            ^
//
// Tabs before the column are kept in the caret line so that the caret lines
// up whatever the terminal's tab width. A line longer than excerptWidth is
// cut to a window around the column, marked with "..." where it was cut.
func quote(line, col int, text string) string {
	runes := []rune(text)
	caret := col - 1
	if caret > len(runes) {
		caret = len(runes) // an error just past the end of the line
	}
	start, end := 0, len(runes)
	if len(runes) > excerptWidth {
		start = max(0, min(caret-excerptWidth/2, len(runes)-excerptWidth))
		end = min(len(runes), start+excerptWidth)
	}
	var shown strings.Builder
	if start > 0 {
		shown.WriteString("...")
	}
	shown.WriteString(string(runes[start:end]))
	if end < len(runes) {
		shown.WriteString("...")
	}
	num := fmt.Sprint(line)
	gutter := "  " + strings.Repeat(" ", len(num)) + " |"
	out := "  " + num + " | " + strings.TrimRight(shown.String(), " \t")
	if col <= 0 {
		return out
	}
	var pad strings.Builder
	if start > 0 {
		pad.WriteString("   ")
	}
	for _, r := range runes[start:caret] {
		if r == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	return out + "\n" + gutter + " " + pad.String() + "^"
}
