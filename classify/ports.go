package classify

import "github.com/shaperdev/shaper/policy"

// portSet is a set of ports; a nil *portSet is a wildcard.
type portSet [1024]uint64

func newPortSet(ranges []policy.PortRange) *portSet {
	if len(ranges) == 0 {
		return nil
	}
	s := new(portSet)
	for _, r := range ranges {
		for p := int(r.Lo); p <= int(r.Hi); p++ {
			s[p/64] |= 1 << (p % 64)
		}
	}
	return s
}

// intersect returns a ∩ b, treating nil as "every port".
func intersect(a, b *portSet) *portSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	s := new(portSet)
	for i := range s {
		s[i] = a[i] & b[i]
	}
	return s
}

func (s *portSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls fn for every port in the set.
func (s *portSet) each(fn func(uint16)) {
	for i, w := range s {
		for w != 0 {
			b := w & -w
			fn(uint16(i*64 + trailing(b)))
			w ^= b
		}
	}
}

func inRanges(p uint16, ranges []policy.PortRange) bool {
	for _, r := range ranges {
		if p >= r.Lo && p <= r.Hi {
			return true
		}
	}
	return false
}
