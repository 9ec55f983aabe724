package shaper

import (
	"encoding/binary"
	"fmt"
)

// The kernel dumps a few options differently from how it takes them.
// fixOptions turns a dumped TCA_OPTIONS into what creating the same object
// sends, for the kinds this kernel has; other options go back unchanged.
func fixOptions(what, kind string, opts []byte) ([]byte, error) {
	var fix func(a *tcAttr) (keep bool)
	switch {
	case what == "qdisc" && kind == "htb":
		fix = fixHTBQdisc
	case what == "filter" && kind == "u32":
		fix = fixU32
	case what == "filter" && kind == "bpf":
		fix = fixBPF
	default:
		return opts, nil
	}
	as, err := parseAttrs(opts)
	if err != nil {
		return nil, fmt.Errorf("%s %s options: %w", kind, what, err)
	}
	var out []tcAttr
	for _, a := range as {
		if fix(&a) {
			out = append(out, a)
		}
	}
	return serializeAttrs(out), nil
}

// fixHTBQdisc: HTB dumps its full version (HTB_VER, 0x30011) in
// TCA_HTB_INIT but takes only the major part (3), and reports its count of
// directly sent packets there, which creating a qdisc ignores.
func fixHTBQdisc(a *tcAttr) bool {
	const tcaHTBInit = 2 // struct tc_htb_glob: version, rate2quantum, defcls, debug, direct_pkts
	if a.Type&nlaTypeMask == tcaHTBInit && len(a.Data) >= 20 {
		binary.NativeEndian.PutUint32(a.Data, binary.NativeEndian.Uint32(a.Data)>>16)
		binary.NativeEndian.PutUint32(a.Data[16:], 0)
	}
	return true
}

// fixU32: a key node's flags carry the kernel's own state (not in
// hardware) besides the skip_hw/skip_sw the user gave, which is all it
// takes back; its hit counters (TCA_U32_PCNT) are counters.
func fixU32(a *tcAttr) bool {
	const (
		tcaU32Pcnt  = 9
		tcaU32Flags = 11
	)
	switch a.Type & nlaTypeMask {
	case tcaU32Pcnt:
		return false
	case tcaU32Flags:
		return userFlags(a)
	}
	return true
}

// fixBPF: like u32's, cls_bpf's flags carry the kernel's not_in_hw.
func fixBPF(a *tcAttr) bool {
	if a.Type&nlaTypeMask == tcaBPFFlagsGen {
		return userFlags(a)
	}
	return true
}

// userFlags keeps of a classifier's flags what a user gives (skip_hw,
// skip_sw) and drops the attribute when none is left.
func userFlags(a *tcAttr) bool {
	if len(a.Data) < 4 {
		return false
	}
	f := binary.NativeEndian.Uint32(a.Data) & 0x3 // TCA_CLS_FLAGS_SKIP_HW | TCA_CLS_FLAGS_SKIP_SW
	binary.NativeEndian.PutUint32(a.Data, f)
	return f != 0
}
