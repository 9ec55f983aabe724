package shaper

import (
	"testing"

	"github.com/shaperdev/shaper/policy"
	"github.com/shaperdev/shaper/shaper/plan"
)

func mbit(n uint64) policy.Rate { return policy.Rate{Bits: n * 1e6, Set: true} }

// designEgress is DESIGN.md's example: 100mbit, web/mail/other 50/30/20%.
func designEgress() *policy.Direction {
	return &policy.Direction{
		Rate: mbit(100), Default: "other",
		Classes: []policy.Class{
			{Name: "web", Rate: mbit(50), Ceil: mbit(100), Apps: []string{"web"}},
			{Name: "mail", Rate: mbit(30), Ceil: mbit(100), Apps: []string{"mail"}},
			{Name: "other", Rate: mbit(20), Ceil: mbit(100)},
		},
	}
}

func mustPlan(t *testing.T, d *policy.Direction) *plan.Plan {
	t.Helper()
	p, err := plan.Direction(d)
	if err != nil {
		t.Fatalf("plan.Direction: %v", err)
	}
	return p
}
