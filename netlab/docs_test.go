package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/lab.md lists every shipped example and says how IPv6 is routed. A
// missing page fails the test: docs are part of the product.
func TestDocsListExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/lab.md")
	if err != nil {
		t.Fatalf("docs/lab.md must exist: %v", err)
	}
	files, _ := filepath.Glob("../examples/labs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no shipped examples in examples/labs")
	}
	for _, f := range files {
		if !strings.Contains(string(doc), "`"+filepath.Base(f)+"`") {
			t.Errorf("docs/lab.md does not list the example %s", filepath.Base(f))
		}
	}
	for _, w := range []string{"ospf6d", "OSPFv3"} {
		if !strings.Contains(string(doc), w) {
			t.Errorf("docs/lab.md does not mention %s", w)
		}
	}
}
