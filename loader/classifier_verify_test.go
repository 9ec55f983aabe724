package loader

import (
	"testing"
)

// TestClassifierVerifiedSize loads the classifier with every combination of
// knobs the engine uses and reports what the verifier walked (the kernel
// counts verified instructions since 5.16). Complexity grows with the
// parser's two passes and the extension header walk: keep it far below
// the 1,000,000 instruction limit so older verifiers (less pruning) pass.
func TestClassifierVerifiedSize(t *testing.T) {
	for _, link := range []LinkKind{LinkEthernet, LinkL3, LinkOther} {
		for _, k := range []Knobs{{Shaped: true, Link: link}, {Ingress: true, Link: link}} {
			c := loadTestClassifier(t, k, "")
			info, err := c.Program().Info()
			if err != nil {
				t.Fatal(err)
			}
			n, ok := info.VerifiedInstructions()
			if !ok {
				t.Skip("kernel does not report verified instructions")
			}
			insns, _ := info.Instructions()
			t.Logf("link %d ingress %v shaped %v: %d instructions, %d verified", link, k.Ingress, k.Shaped, len(insns), n)
			if n > 250_000 {
				t.Errorf("link %d %+v: %d instructions verified: too close to the verifier's limits", link, k, n)
			}
			c.Close()
		}
	}
}
