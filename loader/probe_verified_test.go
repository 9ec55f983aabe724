package loader

import "testing"

// The classifier fits the verifier's budget on this kernel with room to
// spare; the count is logged, so the VM tier shows it for 6.1 too (the
// README's supported-kernels section quotes it). Kernels before 5.16 do
// not report it.
func TestClassifierVerifiedInstructions(t *testing.T) {
	const budget = 1_000_000 // BPF_COMPLEXITY_LIMIT_INSNS since 5.2
	for _, k := range []Knobs{{Shaped: true}, {Shaped: true, Ingress: true}} {
		c := loadTestClassifier(t, k, "")
		info, err := c.Program().Info()
		if err != nil {
			t.Fatalf("program info: %v", err)
		}
		n, ok := info.VerifiedInstructions()
		if !ok {
			t.Logf("knobs %+v: this kernel does not report verified instructions", k)
			continue
		}
		t.Logf("knobs %+v: %d instructions verified (budget %d)", k, n, budget)
		if n > budget/2 {
			t.Errorf("knobs %+v: %d instructions verified, over half the verifier's budget of %d", k, n, budget)
		}
	}
}
