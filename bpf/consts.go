package bpf

// Limits of classifier.c that Go must agree with. They mirror its #defines
// (C has no way to export those); consts_test.go checks each against the
// object: map sizes, array lengths, the hash multipliers in the code.
const (
	MaxSelectors  = 65535              // selector numbers 0..65534 (sel holds MAX_SELECTORS = 65536 per generation)
	SelEntries    = 65536              // MAX_SELECTORS: sel entries per generation
	MaxMulti      = 256                // MAX_MULTI: multi-field selectors, bits in struct mask
	MaxComms      = 65536              // MAX_COMMS: proc_masks and cgroup_masks entries (both generations)
	CommLen       = 16                 // COMM_LEN: a process's comm with its NUL
	NumGens       = 2                  // NGEN: rule generations
	NumPorts      = 65536              // NPORTS: entries per generation in sport/dport_masks
	MaxLPMEntries = 262144             // MAX_LPM: entries in each LPM trie (both gens)
	MaxHashPfx    = 131072             // prefixes a hashed address field holds per generation (more: the trie)
	MaxHashLens   = 4                  // MAX_HASH_LENS: prefix lengths a hashed address field may use
	MaxProbes     = 8                  // MAX_PROBES: slots the program probes per prefix length at most
	MinSlots      = 64                 // MIN_SLOTS: slots per generation of an address table at least
	MinMasks      = 64                 // MIN_MASKS: addr_masks entries per generation at least
	HashMul1      = 0x9E3779B97F4A7C15 // HASH_MUL1: the slot hash's multipliers
	HashMul2      = 0xC2B2AE3D27D4EB4F // HASH_MUL2
	MaxClassSlots = 4096               // MAX_CLASS_SLOTS: class_stats entries (HTB minor ids)
	MaxApps       = 16384              // MAX_APPS: app_stats entries (app 0 = unmatched)
)

// Field indexes of gen_info.wild (enum field in classifier.c, via bpf2go).
const (
	FieldProto = int(ClassifierFieldF_PROTO)
	FieldSPort = int(ClassifierFieldF_SPORT)
	FieldDPort = int(ClassifierFieldF_DPORT)
	FieldSrc   = int(ClassifierFieldF_SRC)
	FieldDst   = int(ClassifierFieldF_DST)
	FieldProc  = int(ClassifierFieldF_PROC)
	FieldCgrp  = int(ClassifierFieldF_CGROUP)
	NumFields  = int(ClassifierFieldNFIELDS)
)

// Address fields: indexes of gen_info.addr (enum addr_field, via bpf2go).
const (
	AddrSrc4 = int(ClassifierAddrFieldA_SRC4)
	AddrDst4 = int(ClassifierAddrFieldA_DST4)
	AddrSrc6 = int(ClassifierAddrFieldA_SRC6)
	AddrDst6 = int(ClassifierAddrFieldA_DST6)
	NumAddrs = int(ClassifierAddrFieldNADDR)
)

// Values of addr_info.mode: how the program looks an address field up.
const (
	AddrNone = iota // no prefixes: only the field's wildcard selectors match
	AddrHash        // one hash table lookup per prefix length, longest first
	AddrLPM         // the LPM trie
)

// TCXNext is what the programs return: let the next program run. As a
// legacy clsact direct-action filter the same value is TC_ACT_UNSPEC.
const TCXNext = ^uint32(0)
