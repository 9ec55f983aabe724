package netlab

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The core enters namespaces through internal/netns and never imports the
// lab builder; only tests may use netlab and labtest.
func TestCoreDoesNotImportNetlab(t *testing.T) {
	for _, dir := range []string{"../shaper", "../loader", "../policy", "../classify", "../bpf", "../internal"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		more, _ := filepath.Glob(filepath.Join(dir, "*", "*.go"))
		for _, f := range append(files, more...) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("parse %s: %v", f, err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasSuffix(p, "/shaper/netlab") || strings.Contains(p, "/shaper/netlab/") {
					t.Errorf("%s imports %s: enter namespaces with internal/netns", f, p)
				}
			}
		}
	}
}
