package bpf

// Limits and layout of classifier.c that Go must agree with. They mirror
// the #defines and enum field there; change both together.
const (
	MaxSelectors  = 256    // MAX_SELECTORS: bits in struct mask
	NumGens       = 2      // NGEN: rule generations
	NumPorts      = 65536  // NPORTS: entries per generation in sport/dport_masks
	MaxLPMEntries = 262144 // MAX_LPM: entries in each LPM trie (both gens)
	MaxClassSlots = 4096   // MAX_CLASS_SLOTS: class_stats entries (HTB minor ids)
	MaxApps       = 1024   // MAX_APPS: app_stats entries (app 0 = unmatched)
)

// Field indexes into the wild map (enum field in classifier.c).
const (
	FieldProto = iota
	FieldSPort
	FieldDPort
	FieldSrc
	FieldDst
	NumFields
)

// Bits of gen_info.lpm: which LPM tries hold entries in a generation.
const (
	LPMSrc4 = 1 << iota
	LPMDst4
	LPMSrc6
	LPMDst6
)

// TCXNext is what the programs return: let the next program run. As a
// legacy clsact direct-action filter the same value is TC_ACT_UNSPEC.
const TCXNext = ^uint32(0)
