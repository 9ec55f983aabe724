package shaper

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/shaperdev/shaper/internal/nlretry"
	"github.com/shaperdev/shaper/shaper/plan"
)

// A tc object (qdisc, class or filter) as rtnetlink carries it: the tcmsg
// header and the attributes, undecoded. Snapshot keeps objects in this form
// and Restore sends them back as they were read, so that every option the
// kernel dumps is restored, including those no Go library decodes.

// tcmsgLen is sizeof(struct tcmsg): family, 3 pad bytes, ifindex, handle,
// parent, info.
const tcmsgLen = 20

// Top-level tc attributes (TCA_*), from include/uapi/linux/rtnetlink.h.
const (
	tcaKind          = 1
	tcaOptions       = 2
	tcaStats         = 3
	tcaXstats        = 4
	tcaRate          = 5
	tcaFcnt          = 6
	tcaStats2        = 7
	tcaStab          = 8
	tcaPad           = 9
	tcaDumpInvisible = 10
	tcaChain         = 11
	tcaHwOffload     = 12
	tcaIngressBlock  = 13
	tcaEgressBlock   = 14
	tcaDumpFlags     = 15
	tcaExtWarnMsg    = 16
)

// Special parents and handles (TC_H_*).
const (
	tcHRoot      = 0xFFFFFFFF
	tcHIngress   = 0xFFFFFFF1 // parent of the ingress and clsact qdiscs
	tcHMinIngr   = 0xFFF2     // clsact's ingress hook (minor)
	tcHMinEgress = 0xFFF3     // clsact's egress hook (minor)
	ingressMajor = 0xFFFF0000
)

type tcAttr struct {
	Type uint16 // with the NLA_F_NESTED bit as the kernel sent it
	Data []byte
}

type tcObject struct {
	Ifindex int32
	Handle  uint32
	Parent  uint32
	Info    uint32 // filters: prio<<16 | protocol (network order)
	Attrs   []tcAttr
}

// parseTC reads one RTM_NEWQDISC/NEWTCLASS/NEWTFILTER message body.
func parseTC(b []byte) (tcObject, error) {
	if len(b) < tcmsgLen {
		return tcObject{}, fmt.Errorf("tc message of %d bytes is shorter than its header", len(b))
	}
	o := tcObject{
		Ifindex: int32(binary.NativeEndian.Uint32(b[4:])),
		Handle:  binary.NativeEndian.Uint32(b[8:]),
		Parent:  binary.NativeEndian.Uint32(b[12:]),
		Info:    binary.NativeEndian.Uint32(b[16:]),
	}
	attrs, err := parseAttrs(b[tcmsgLen:])
	o.Attrs = attrs
	return o, err
}

// parseAttrs splits a run of netlink attributes; the values are copies.
func parseAttrs(b []byte) ([]tcAttr, error) {
	var out []tcAttr
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			return out, fmt.Errorf("netlink attribute of length %d in %d bytes", l, len(b))
		}
		t := binary.NativeEndian.Uint16(b[2:])
		out = append(out, tcAttr{Type: t, Data: append([]byte(nil), b[unix.SizeofNlAttr:l]...)})
		b = b[min(nlaAlign(l), len(b)):]
	}
	return out, nil
}

// nlaTypeMask clears the NLA_F_NESTED and NLA_F_NET_BYTEORDER flag bits.
const nlaTypeMask = 0x3FFF

func nlaAlign(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// serializeAttrs is the inverse of parseAttrs.
func serializeAttrs(as []tcAttr) []byte {
	var b []byte
	for _, a := range as {
		l := unix.SizeofNlAttr + len(a.Data)
		hdr := make([]byte, unix.SizeofNlAttr)
		binary.NativeEndian.PutUint16(hdr, uint16(l))
		binary.NativeEndian.PutUint16(hdr[2:], a.Type)
		b = append(b, hdr...)
		b = append(b, a.Data...)
		b = append(b, make([]byte, nlaAlign(l)-l)...)
	}
	return b
}

func (o tcObject) serialize() []byte {
	b := make([]byte, tcmsgLen)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(o.Ifindex))
	binary.NativeEndian.PutUint32(b[8:], o.Handle)
	binary.NativeEndian.PutUint32(b[12:], o.Parent)
	binary.NativeEndian.PutUint32(b[16:], o.Info)
	return append(b, serializeAttrs(o.Attrs)...)
}

// attr returns the value of the first attribute of the type, nil if absent.
func (o tcObject) attr(t uint16) []byte {
	return findAttr(o.Attrs, t)
}

func findAttr(as []tcAttr, t uint16) []byte {
	for _, a := range as {
		if a.Type&nlaTypeMask == t {
			return a.Data
		}
	}
	return nil
}

func (o tcObject) kind() string {
	k := o.attr(tcaKind)
	for len(k) > 0 && k[len(k)-1] == 0 {
		k = k[:len(k)-1]
	}
	return string(k)
}

// inLinkNetns checks that the interface with the link's index in the
// calling thread's network namespace is the link: raw tc messages go to the
// thread's namespace (the engine enters it first), and an index names
// another device in another namespace, maybe the machine's own.
func inLinkNetns(link netlink.Link) error {
	here, err := netlink.LinkByIndex(link.Attrs().Index)
	if err != nil || here.Attrs().Name != link.Attrs().Name {
		return fmt.Errorf("interface %s (index %d) is not in this thread's network namespace (caller bug: enter it first)",
			link.Attrs().Name, link.Attrs().Index)
	}
	return nil
}

// dumpTC dumps qdiscs (RTM_GETQDISC), classes (RTM_GETTCLASS) or filters
// (RTM_GETTFILTER, of one parent) of an interface in the caller's network
// namespace, retrying interrupted dumps.
func dumpTC(msgType int, ifindex int, parent uint32) ([]tcObject, error) {
	raw, err := nlretry.List(func() ([][]byte, error) {
		req := nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP)
		req.AddRawData(tcObject{Ifindex: int32(ifindex), Parent: parent}.serialize())
		return req.Execute(unix.NETLINK_ROUTE, 0)
	})
	if err != nil {
		return nil, err
	}
	var out []tcObject
	for _, m := range raw {
		o, err := parseTC(m)
		if err != nil {
			return nil, err
		}
		if int(o.Ifindex) == ifindex { // qdisc dumps cover every device
			out = append(out, o)
		}
	}
	return out, nil
}

// The kernel says why it refused a tc object (extended ack): ask for it.
func init() { nl.EnableErrorMessageReporting = true }

// sendTC creates a tc object as `tc ... add` does (NLM_F_CREATE|NLM_F_EXCL).
func sendTC(msgType int, o tcObject) error {
	req := nl.NewNetlinkRequest(msgType, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddRawData(o.serialize())
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// describeTC names an object the way tc prints it, for messages.
func describeTC(what string, o tcObject) string {
	switch what {
	case "filter":
		return fmt.Sprintf("filter %s parent %s pref %d handle %#x", o.kind(), plan.HandleString(o.Parent), o.Info>>16, o.Handle)
	case "class":
		return fmt.Sprintf("class %s %s parent %s", o.kind(), plan.HandleString(o.Handle), plan.HandleString(o.Parent))
	}
	return fmt.Sprintf("qdisc %s %s parent %s", o.kind(), plan.HandleString(o.Handle), parentString(o.Parent))
}

func parentString(p uint32) string {
	switch p {
	case tcHRoot:
		return "root"
	case tcHIngress:
		return "ingress"
	}
	return plan.HandleString(p)
}
