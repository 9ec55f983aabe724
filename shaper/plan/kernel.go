package plan

// KernelState is what an interface's egress root holds, as read from the
// kernel (ReadState). It is plain data so that Diff stays pure and tests can
// build it by hand.
type KernelState struct {
	Root    *QdiscState  // nil: no root qdisc at all
	Classes []ClassState // HTB classes under the root, any order
	Clock   Psched       // the kernel's psched clock; zero: DefaultPsched
	// Foreign says the root is not shaper's although it may look like it
	// (a hand-made "htb 1:"): it was there before shaper, so Diff replaces
	// it instead of adopting its options, leaf qdiscs and filters.
	Foreign bool
}

// QdiscState is a root qdisc. Rates and sizes are in bytes; buffers are in
// psched ticks as the kernel reports them, with the byte value tc would print
// beside them.
type QdiscState struct {
	Kind   string // "htb", "tbf", "noqueue", "pfifo_fast", "mq", ...
	Handle uint32 // 0 for the kernel's default root qdisc
	Parent uint32

	// HTB
	Default    uint32 // full class id of the default class (handle major | defcls)
	R2Q        uint32
	DirectQlen uint32 // 0 when not reported

	// TBF
	RateBytes   uint64
	BufferTicks uint32
	Burst       uint32 // bytes, from BufferTicks at RateBytes
	Limit       uint32
	PeakBytes   uint64
	MTU         uint32 // peak bucket bytes when the kernel reports it, else 0

	Stats Stats
}

// ClassState is one HTB class as the kernel holds it.
type ClassState struct {
	ClassID      uint32
	Parent       uint32
	Level        uint32 // 0 for a leaf
	RateBytes    uint64
	CeilBytes    uint64
	BufferTicks  uint32
	CBufferTicks uint32
	Burst        uint32 // bytes, from BufferTicks at RateBytes (as tc prints it)
	CBurst       uint32 // bytes, from CBufferTicks at CeilBytes
	Quantum      uint32
	Prio         uint32
	Stats        Stats
}

// Leaf reports whether the class holds packets (has no children).
func (c ClassState) Leaf() bool { return c.Level == 0 }

// Stats are a qdisc's or class's counters; bytes and packets are totals
// since creation, the rest are the queue's current state and drop counts.
type Stats struct {
	Bytes      uint64 `json:"bytes"`
	Packets    uint64 `json:"packets"`
	Drops      uint32 `json:"drops"`
	Overlimits uint32 `json:"overlimits"`
	Requeues   uint32 `json:"requeues"`
	Backlog    uint32 `json:"backlog"` // bytes queued now
	Qlen       uint32 `json:"qlen"`    // packets queued now
	RateBps    uint64 `json:"rate_bps,omitempty"`
	RatePps    uint64 `json:"rate_pps,omitempty"`
}

// Ours reports whether a root qdisc is one shaper installs (handle 1:, htb
// or tbf): only such a root may be rebuilt or removed without a snapshot.
func (q *QdiscState) Ours() bool {
	return q != nil && q.Handle == RootHandle && (q.Kind == "htb" || q.Kind == "tbf")
}

// IsDefault reports whether the root is the device's default qdisc, which
// the kernel creates with handle 0: (noqueue, pfifo_fast, mq, ...).
func (q *QdiscState) IsDefault() bool {
	return q == nil || q.Handle == 0 || q.Kind == "noqueue"
}

// Class finds a class by id.
func (s *KernelState) Class(id uint32) (ClassState, bool) {
	if s == nil {
		return ClassState{}, false
	}
	for _, c := range s.Classes {
		if c.ClassID == id {
			return c, true
		}
	}
	return ClassState{}, false
}

// clock is the state's psched clock, DefaultPsched when none was read.
func (s *KernelState) clock() Psched {
	if s == nil {
		return DefaultPsched
	}
	return s.Clock.orDefault()
}
