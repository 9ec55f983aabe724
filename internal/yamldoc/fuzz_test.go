package yamldoc

import (
	"testing"
	"time"
)

// FuzzParse: any input gives a tree or an error, quickly, and never a
// panic or a hang.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"version: 1\napps:\n  - name: web\n    match: [{proto: tcp, dport: 443}\n",
		"a: {b: [fd00::1, x]}\n", "a: &a [*a, *a]\n", "a: 'x\n", "\t- a\n", "a: b: c\n", "a: [1, 2}\n",
		"a:\n  - b\n   c: 1\n", "? [a]\n: b\n", "a: !!int x\n", "--- |\n  x\n...\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			root, err := Parse("f", data)
			if err != nil {
				List{err}.Report("f", data)
				_ = err.Error()
			}
			_ = root
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse(%q) runs for more than 5s", data)
		}
	})
}
