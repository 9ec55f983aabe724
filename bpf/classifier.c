//go:build ignore

// classifier.c: the tc classifier. It tags every packet with an app and a
// class and counts it. Matching costs the same for 1 or 10,000 apps and
// 100,000 prefixes: each packet field (proto, sport, dport, src, dst, and
// the process and cgroup of the packet's socket) is looked up once in its
// own map. Selectors are numbered in policy order. A field value's entry
// (struct mask) holds the lowest-numbered single-field selector it
// satisfies (+1; 0: none), and a bitmap of the multi-field selectors (at
// most MAX_MULTI, numbered apart, in policy order too) it takes part in;
// gen_info.wild has, per field, the multi-field selectors that ignore it.
// The winner is the lower of the smallest single over the fields and the
// first bit of the AND over the fields of (bitmap | wildcards), mapped back
// to its selector number through multi_idx: first match, exactly.
// Rule maps hold two generations; user space writes the inactive one and
// flips config.gen, so a rule change is atomic for packets.
//
// Addresses: an LPM trie's lookup cost grows with its entries, and a BPF
// hash map lookup is a chain of real calls (jhash, lookup), each return
// costly under the CPU's return mitigations. So a field whose prefixes have
// at most MAX_HASH_LENS distinct lengths goes to an open-addressing hash
// table kept in an ARRAY map (the verifier inlines array lookups: no call
// at all). The program hashes the masked address and the length itself
// (multiply-shift; Go computes the same in classify/hashtab.go) and probes
// at most addr_info.probes consecutive slots (linear probing, placed Robin
// Hood by user space so that the longest displacement stays small), one
// length after the other, longest first; an empty slot ends a length early.
// The first hit is the longest match: user space folds every shorter
// covering prefix's bits into the longer one, so the hit's mask is the
// whole answer. A slot holds the key and the index of its mask in
// addr_masks (distinct masks, shared by the four fields). Fields with more
// lengths, or whose prefixes do not fit in MAX_PROBES slots of the table,
// use the trie: it is the universal fallback.
//
// Sizes: the slot tables and addr_masks are sized from the policy at load
// (spec MaxEntries; the program reads the size from gen_info), each holding
// both generations, half each: generation g uses slots g*slots ..
// g*slots+slots-1. With a pin directory the loader reuses pinned rule maps
// that are big enough (a rules-only re-apply is then a generation flip in
// the same maps, as for every other rule map); when one is too small it
// loads a complete fresh set of rule maps (config and generation included)
// for the new program, keeps the pinned counter maps, and re-pins the rule
// maps: the program still attached keeps its own maps until the attach
// layer swaps the programs atomically. Tables never shrink while pinned.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"
#include "sock_info.h"
#include "redirect.h"

#define MAX_SELECTORS 65536 /* sel entries per generation (selector numbers 0..65534) */
#define MAX_MULTI 256       /* multi-field selectors: bits in struct mask */
#define MW (MAX_MULTI / 64)
#define NGEN 2
#define NPORTS 65536
#define MAX_LPM 262144
#define MAX_HASH_LENS 4
#define MAX_PROBES 8     /* slots probed per length at most */
#define MIN_SLOTS 64     /* slots per generation of a table at least (max_entries is set at load) */
#define MIN_MASKS 64     /* addr_masks entries per generation at least */
#define HASH_MUL1 0x9E3779B97F4A7C15ULL
#define HASH_MUL2 0xC2B2AE3D27D4EB4FULL
#define MAX_CLASS_SLOTS 4096
#define MAX_APPS 16384
#define MAX_COMMS 65536 /* proc_masks and cgroup_masks entries (both generations) */
#define MAX_EXT_HDRS 8 /* extension headers walked (IPv4: AH); a longer chain takes the default */

/* Fields of the wildcard table, in this order (classify.Field* mirror it). */
enum field { F_PROTO, F_SPORT, F_DPORT, F_SRC, F_DST, F_PROC, F_CGROUP, NFIELDS };

/* What one field value says: single = the lowest single-field selector it
 * satisfies + 1 (0: none, so an all-zero entry is "nothing"), w = the
 * multi-field selectors it takes part in. */
struct mask {
	__u32 single;
	__u32 pad;
	__u64 w[MW];
};

struct proc_key {
	__u32 gen;
	char comm[COMM_LEN];
};

struct cgroup_key {
	__u32 gen;
	__u32 pad;
	__u64 id;
};

struct counter {
	__u64 bytes;
	__u64 packets;
};

struct sel_val {
	__u32 app;
	__u32 classid;
	__u32 class_slot;
};

/* LPM keys: the generation sits in the first 32 bits of the matched data
 * (prefixlen = 32 + prefix length) so the two generations never overlap. */
struct lpm4_key {
	__u32 prefixlen;
	__u32 gen;
	__u8 addr[4];
};

struct lpm6_key {
	__u32 prefixlen;
	__u32 gen;
	__u8 addr[16];
};

/* Hash table slots: the masked address, and info = tag | mask << 8 where
 * tag is the prefix length + 1 (0: an empty slot) and mask the index of the
 * prefix's mask in addr_masks (generation included). */
struct slot4 {
	__u32 addr;
	__u32 info;
};

struct slot6 {
	__u64 addr[2]; /* the address words as the program loads them */
	__u32 info;
	__u32 pad;
};

struct config {
	__u32 gen;
};

/* Address fields, indexes of gen_info.addr (classify/bpf.Addr* mirror it). */
enum addr_field { A_SRC4, A_DST4, A_SRC6, A_DST6, NADDR };

#define ADDR_NONE 0 /* the policy has no prefix of this field and family */
#define ADDR_HASH 1 /* probe the hash table for lens[0..nlens-1] */
#define ADDR_LPM 2  /* look the address up in the trie */

struct addr_info {
	__u8 mode;
	__u8 nlens;
	__u8 lens[MAX_HASH_LENS]; /* longest first */
	__u8 probes;              /* slots to probe per length: the longest displacement + 1 */
	__u8 shift;               /* 64 - log2(slots): the hash's top bits are the home slot */
	__u32 slots;              /* slots per generation of the field's table (a power of 2) */
	__u32 pad;
	__u8 netmask[MAX_HASH_LENS][16]; /* of lens[i], network order (v4: first 4 bytes) */
};

/* Everything about a generation that is not a per-value table, in one
 * lookup: the wildcard masks, the default, and how to look up addresses. */
struct gen_info {
	struct mask wild[NFIELDS]; /* selectors that ignore the field */
	struct sel_val def;        /* for unmatched and non-IP packets */
	__u8 use_proc;             /* the generation has process selectors: read the socket's record */
	__u8 use_cgroup;           /* ... cgroup selectors */
	__u8 use_addr;             /* ... address selectors (else skip their lookups) */
	__u8 pad;                  /* netmasks are read 8 bytes at a time */
	struct addr_info addr[NADDR];
};

_Static_assert(__builtin_offsetof(struct addr_info, netmask) % 8 == 0, "netmask words");
_Static_assert(sizeof(struct addr_info) % 8 == 0, "addr_info words");
_Static_assert(__builtin_offsetof(struct gen_info, addr) % 8 == 0, "addr words");

/* An array map indexed by __u32; most maps here are one. */
#define MAP(kind, name, n, valtype)                     \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_##kind);      \
		__uint(max_entries, n);                 \
		__type(key, __u32);                     \
		__type(value, valtype);                 \
	} name SEC(".maps")

MAP(ARRAY, config_map, 1, struct config);
MAP(ARRAY, proto_masks, NGEN * 256, struct mask);
MAP(ARRAY, sport_masks, NGEN * NPORTS, struct mask);
MAP(ARRAY, dport_masks, NGEN * NPORTS, struct mask);

#define LPM_MAP(name, keytype)                          \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);    \
		__uint(max_entries, MAX_LPM);           \
		__uint(map_flags, BPF_F_NO_PREALLOC);   \
		__type(key, struct keytype);            \
		__type(value, struct mask);             \
	} name SEC(".maps")

LPM_MAP(src4_masks, lpm4_key);
LPM_MAP(dst4_masks, lpm4_key);
LPM_MAP(src6_masks, lpm6_key);
LPM_MAP(dst6_masks, lpm6_key);

/* max_entries are placeholders: the loader sizes these from the policy. */
#define SLOT_MAP(name, slottype) MAP(ARRAY, name, NGEN * MIN_SLOTS, struct slottype)

SLOT_MAP(src4_slots, slot4);
SLOT_MAP(dst4_slots, slot4);
SLOT_MAP(src6_slots, slot6);
SLOT_MAP(dst6_slots, slot6);

MAP(ARRAY, addr_masks, NGEN * MIN_MASKS, struct mask);
MAP(ARRAY, sel, NGEN * MAX_SELECTORS, struct sel_val);
MAP(ARRAY, multi_idx, NGEN * MAX_MULTI, __u32); /* multi-field bit -> selector number */

#define HASH_MAP(name, keytype)                         \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__uint(max_entries, MAX_COMMS);         \
		__uint(map_flags, BPF_F_NO_PREALLOC);   \
		__type(key, struct keytype);            \
		__type(value, struct mask);             \
	} name SEC(".maps")

HASH_MAP(proc_masks, proc_key);
HASH_MAP(cgroup_masks, cgroup_key);
MAP(ARRAY, gen_infos, NGEN, struct gen_info);
MAP(PERCPU_ARRAY, class_stats, MAX_CLASS_SLOTS, struct counter);
MAP(PERCPU_ARRAY, app_stats, MAX_APPS, struct counter);

/* The parsed tuple. */
struct tuple {
	__u8 addr_src[16];
	__u8 addr_dst[16];
	__u16 sport, dport; /* host order */
	__u16 l3;           /* offset of the IP header from skb->data (LINK_NET: 0, the network header) */
	__u16 l4;           /* offset of the L4 header from the IP header */
	__u8 proto;
	__u8 has_ports;
	__u8 v6;
} __attribute__((aligned(8))); /* the program reads addresses a word at a time */

#define IPV6_HOP 0
#define IPV6_ROUTING 43
#define IPV6_FRAGMENT 44
#define IPV6_AH 51
#define IPV6_DSTOPTS 60
#define IPPROTO_UDPLITE_ 136 /* not in older UAPI headers */

/* What tc sees in front of the IP header (knob link_type, from the link's
 * type at load time): an Ethernet header (+VLAN tags); nothing (tun,
 * WireGuard, PPP, ipip/sit/gre in L3 mode: the IP header is at offset 0
 * and its version nibble names the family, as tun itself decides); or a
 * link-layer header of another length (e.g. GRE with header_ops): then
 * the family comes from skb->protocol and every header is read relative
 * to the kernel's network header with bpf_skb_load_bytes_relative. */
enum link_kind { LINK_ETH, LINK_L3, LINK_NET };

/* Knobs, set from Go through the collection spec before load. */
volatile const __u8 ingress = 0;          /* reverse the tuple: match as egress sees the flow; compute wire bytes */
volatile const __u8 shaped = 0;           /* set skb->priority and count classes */
volatile const __u8 link_type = LINK_ETH; /* enum link_kind */
volatile const __u8 ident_test = 0;       /* tests: the socket owner comes from test_ident (BPF_PROG_TEST_RUN has no socket) */
/* Downloads (ingress only, docs/downloads.md): enum ingress_path, and the
 * device IP packets are redirected to, to be shaped: the veth host end
 * (netns) or the IFB device (ifb), in this program's namespace. */
volatile const __u8 ingress_mode = PATH_NONE;
volatile const __u32 redirect_ifindex = 0;

/* Put the enums Go takes from BTF (bpf2go -type) into it: nothing else
 * has a value of their types. */
const enum link_kind *const btf_link_kind __attribute__((used)) = 0;
const enum field *const btf_field __attribute__((used)) = 0;
const enum addr_field *const btf_addr_field __attribute__((used)) = 0;
const enum ingress_path *const btf_ingress_path __attribute__((used)) = 0;

/* Parsing reads through load(): directly from the linear data (no helper
 * call: on this class of machine every call costs more than the whole
 * match), or, when a header lies beyond the linear data or beyond
 * MAX_L3_OFF, with bpf_skb_load_bytes, which reads non-linear data too.
 * The fast pass returns NEED_MORE and the slow pass parses again; so both
 * give the answer of a parse over the whole packet (the Go reference
 * classify.Parse). Anything malformed or truncated returns BAD and takes
 * the default. */
#define BAD -1
#define NEED_MORE -2
#define MAX_L3_OFF 512 /* bounds direct offsets for the verifier; deeper headers take the slow pass */

#define RD_DIRECT 0 /* packet pointers; offsets from skb->data */
#define RD_SKB 1    /* bpf_skb_load_bytes; offsets from skb->data */
#define RD_NET 2    /* bpf_skb_load_bytes_relative; offsets from the network header */

/* load copies n bytes at l3+off to buf. */
static __always_inline int load(struct __sk_buff *skb, int mode, __u32 l3, __u32 off, void *buf, __u32 n)
{
	if (mode == RD_DIRECT) {
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		if (off > MAX_L3_OFF || l3 > 64)
			return NEED_MORE;
		__u8 *p = data + l3 + off;
		if ((void *)(p + n) > end)
			return NEED_MORE;
		__builtin_memcpy(buf, p, n);
		return 0;
	}
	if (mode == RD_NET)
		return bpf_skb_load_bytes_relative(skb, off, buf, n, BPF_HDR_START_NET) < 0 ? BAD : 0;
	return bpf_skb_load_bytes(skb, l3 + off, buf, n) < 0 ? BAD : 0;
}

static __always_inline int port_proto(__u8 p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP || p == IPPROTO_UDPLITE_;
}

/* parse_l4 reads the ports of a first (or unfragmented) TCP, UDP, UDP-Lite
 * or SCTP segment at off. */
static __always_inline int parse_l4(struct __sk_buff *skb, int mode, __u32 off, struct tuple *t)
{
	t->l4 = off;
	if (!port_proto(t->proto))
		return 0;
	__be16 ports[2];
	int r = load(skb, mode, t->l3, off, ports, 4);
	if (r)
		return r;
	t->sport = bpf_ntohs(ports[0]);
	t->dport = bpf_ntohs(ports[1]);
	t->has_ports = 1;
	return 0;
}

/* is_ext: headers walked to reach L4 (IPv4: AH only). */
static __always_inline int is_ext(__u8 next, __u8 v6)
{
	if (next == IPV6_AH)
		return 1;
	return v6 && (next == IPV6_HOP || next == IPV6_ROUTING || next == IPV6_DSTOPTS || next == IPV6_FRAGMENT);
}

/* parse_ext walks up to MAX_EXT_HDRS extension headers from off, then
 * parses L4. A longer chain is BAD: matching it as the stray header's
 * protocol would let it past port rules. */
static __always_inline int parse_ext(struct __sk_buff *skb, int mode, __u32 off, __u8 next, struct tuple *t)
{
	for (int i = 0; i < MAX_EXT_HDRS; i++) {
		if (!is_ext(next, t->v6))
			break;
		__u8 e[4];
		int r = load(skb, mode, t->l3, off, e, 4);
		if (r)
			return r;
		if (next == IPV6_FRAGMENT) {
			next = e[0];
			off += 8;
			if (((e[2] << 8) | e[3]) & 0xfff8) {
				/* later fragment: no L4 header */
				t->proto = next;
				return 0;
			}
		} else if (next == IPV6_AH) {
			next = e[0];
			off += ((__u32)e[1] + 2) * 4;
		} else {
			next = e[0];
			off += ((__u32)e[1] + 1) * 8;
		}
	}
	if (is_ext(next, t->v6))
		return BAD;
	t->proto = next;
	return parse_l4(skb, mode, off, t);
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, int mode, struct tuple *t)
{
	__u8 h[10]; /* up to the protocol; the addresses go straight to t */
	int r = load(skb, mode, t->l3, 0, h, 10);
	if (r)
		return r;
	__u8 ihl = h[0] & 0x0f;
	if ((h[0] >> 4) != 4 || ihl < 5)
		return BAD;
	r = load(skb, mode, t->l3, 12, t->addr_src, 4);
	if (r)
		return r;
	r = load(skb, mode, t->l3, 16, t->addr_dst, 4);
	if (r)
		return r;
	/* A later fragment carries no L4 (nor AH) header: it matches without ports. */
	if (((h[6] << 8) | h[7]) & 0x1fff) {
		t->proto = h[9];
		return 0;
	}
	return parse_ext(skb, mode, ihl * 4, h[9], t);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, int mode, struct tuple *t)
{
	__u8 h[8];
	int r = load(skb, mode, t->l3, 0, h, 8);
	if (r)
		return r;
	if ((h[0] >> 4) != 6)
		return BAD;
	t->v6 = 1;
	r = load(skb, mode, t->l3, 8, t->addr_src, 16);
	if (r)
		return r;
	r = load(skb, mode, t->l3, 24, t->addr_dst, 16);
	if (r)
		return r;
	return parse_ext(skb, mode, 40, h[6], t);
}

/* parse_eth finds the IP header behind Ethernet and up to two VLAN tags
 * (802.1ad outer, 802.1Q inner) and returns its ethertype, or 0. */
static __always_inline int parse_eth(struct __sk_buff *skb, int mode, struct tuple *t, __be16 *proto)
{
	__u32 off = 12;
	int r = load(skb, mode, 0, off, proto, 2);
	if (r)
		return r;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		off += 4;
		r = load(skb, mode, 0, off, proto, 2);
		if (r)
			return r;
	}
	t->l3 = off + 2;
	return 0;
}

/* parse fills t; it returns 0 for an IP packet it understood, BAD for
 * anything else (non-IP, truncated, malformed), NEED_MORE (RD_DIRECT only)
 * when headers lie beyond the linear data. */
static __always_inline int parse(struct __sk_buff *skb, int mode, struct tuple *t)
{
	__be16 proto = 0;
	int r;

	if (link_type == LINK_NET) {
		proto = skb->protocol;
	} else if (link_type == LINK_L3) {
		__u8 v;
		r = load(skb, mode, 0, 0, &v, 1);
		if (r)
			return r;
		if (v >> 4 == 4)
			proto = bpf_htons(ETH_P_IP);
		else if (v >> 4 == 6)
			proto = bpf_htons(ETH_P_IPV6);
	} else {
		r = parse_eth(skb, mode, t, &proto);
		if (r)
			return r;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, mode, t);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, mode, t);
	return BAD;
}

/* parse_skb parses from the linear data, and again through the helpers
 * when headers lie beyond it (rare: tc usually sees linear headers). */
static __always_inline int parse_skb(struct __sk_buff *skb, struct tuple *t)
{
	int r = NEED_MORE;

	if (link_type != LINK_NET)
		r = parse(skb, RD_DIRECT, t);
	if (r != NEED_MORE)
		return r;
	__builtin_memset(t, 0, sizeof(*t));
	r = parse(skb, link_type == LINK_NET ? RD_NET : RD_SKB, t);
	return r == 0 ? 0 : BAD;
}

/* ingress_bytes is what the peer's egress counted for this packet
 * (qdisc_pkt_len_init): tc ingress's wire_len lacks the link-layer header
 * (skb->len has it: tc pushed it back), and a GRO packet carries the
 * headers of its first segment only, so add the L2+L3+L4 headers of every
 * other segment (L4: TCP's data offset, UDP's 8 bytes, as for GSO). */
static __always_inline __u64 ingress_bytes(struct __sk_buff *skb, const struct tuple *t, int ok, __u32 segs)
{
	__u32 len = skb->len, wire = skb->wire_len;

	if (segs <= 1 || !ok)
		return len;
	__u32 hdr = (wire <= len ? len - wire : 0) + t->l4;
	if (t->proto == IPPROTO_UDP) {
		hdr += 8;
	} else if (t->proto == IPPROTO_TCP && t->has_ports) {
		/* parse read this header already: directly, as it did,
		 * with a helper call only where the direct read cannot. */
		__u8 doff = 0;
		int r = link_type == LINK_NET ? NEED_MORE : load(skb, RD_DIRECT, t->l3, t->l4 + 12, &doff, 1);
		if (r == NEED_MORE)
			r = load(skb, link_type == LINK_NET ? RD_NET : RD_SKB, t->l3, t->l4 + 12, &doff, 1);
		if (r == 0)
			hdr += (doff >> 4) * 4;
	}
	return len + (__u64)(segs - 1) * hdr;
}

static __always_inline void swap_tuple(struct tuple *t)
{
	__u8 tmp[16];
	__u16 p;

	__builtin_memcpy(tmp, t->addr_src, 16);
	__builtin_memcpy(t->addr_src, t->addr_dst, 16);
	__builtin_memcpy(t->addr_dst, tmp, 16);
	p = t->sport;
	t->sport = t->dport;
	t->dport = p;
}

/* acc is the running answer of match: the smallest single-field selector
 * seen, and the multi-field selectors still in the running. */
struct acc {
	__u64 w[MW];
	__u64 best;
};

/* and_field folds one field's entry m (0: the value is in no table) and
 * the field's wildcards w into a. */
static __always_inline void and_field(struct acc *a, const struct mask *m, const struct mask *w)
{
	/* The minimum without a branch: a branch here would double the paths
	 * the verifier walks at each of the fields. */
	__u64 s = (__u32)((m ? m->single : 0) - 1); /* 0 (none) wraps to the largest */
	__u64 b = a->best;
	__u64 lt = 0 - ((s - b) >> 63); /* all ones when s < b */
	asm volatile("" : "+r"(lt));
	a->best = (s & lt) | (b & ~lt);
#pragma unroll
	for (int i = 0; i < MW; i++)
		a->w[i] &= (m ? m->w[i] : 0) | w->w[i];
}

/* probe_slots looks one (masked address, length) key up in a field's
 * table: at most ai->probes slots from its home slot, stopping at an empty
 * one. eq(s) compares a slot's address with the key's. */
#define PROBE_SLOTS(tab, ai, gen, h, tag, eq)                                    \
	do {                                                                     \
		__u32 home_ = (__u32)((h) >> ((ai)->shift & 63));                 \
		__u32 smask_ = (ai)->slots - 1;                                  \
		__u32 base_ = (gen) * (ai)->slots;                               \
		for (int p_ = 0; p_ < MAX_PROBES; p_++) {                        \
			if (p_ >= (ai)->probes)                                  \
				break;                                           \
			__u32 k_ = base_ + ((home_ + p_) & smask_);              \
			s = bpf_map_lookup_elem(tab, &k_);                       \
			if (!s || !(s->info & 0xff))                             \
				break; /* empty: not in the table */             \
			if ((s->info & 0xff) == (tag) && (eq)) {                 \
				__u32 mi_ = s->info >> 8;                        \
				return bpf_map_lookup_elem(&addr_masks, &mi_);   \
			}                                                        \
		}                                                                \
	} while (0)

/* probe4 and probe6 look addr up once per prefix length the field uses,
 * longest first; the first hit is the longest match. */
static __always_inline const struct mask *probe4(void *tab, const struct addr_info *ai, const __u8 *addr, __u32 gen)
{
	__u32 a = *(const __u32 *)addr;
	const struct slot4 *s;

	for (int i = 0; i < MAX_HASH_LENS; i++) {
		if (i >= ai->nlens)
			break;
		__u32 plen = ai->lens[i];
		__u32 want = a & *(const __u32 *)ai->netmask[i];
		__u64 h = (((__u64)plen << 32) | want) * HASH_MUL1;
		PROBE_SLOTS(tab, ai, gen, h, plen + 1, s->addr == want);
	}
	return 0;
}

static __always_inline const struct mask *probe6(void *tab, const struct addr_info *ai, const __u8 *addr, __u32 gen)
{
	const __u64 *a = (const __u64 *)addr;
	const struct slot6 *s;

	for (int i = 0; i < MAX_HASH_LENS; i++) {
		if (i >= ai->nlens)
			break;
		const __u64 *nm = (const __u64 *)ai->netmask[i];
		__u32 plen = ai->lens[i];
		__u64 w0 = a[0] & nm[0], w1 = a[1] & nm[1];
		__u64 h = (w0 * HASH_MUL1 + (w1 ^ plen)) * HASH_MUL2;
		PROBE_SLOTS(tab, ai, gen, h, plen + 1,
			    s->addr[0] == w0 && s->addr[1] == w1);
	}
	return 0;
}

static __always_inline const struct mask *lookup4(void *tab, void *lpm, const struct addr_info *ai, const __u8 *addr, __u32 gen)
{
	if (ai->mode == ADDR_HASH)
		return probe4(tab, ai, addr, gen);
	if (ai->mode == ADDR_LPM) {
		struct lpm4_key k = { .prefixlen = 32 + 32, .gen = gen };
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(lpm, &k);
	}
	return 0;
}

static __always_inline const struct mask *lookup6(void *tab, void *lpm, const struct addr_info *ai, const __u8 *addr, __u32 gen)
{
	if (ai->mode == ADDR_HASH)
		return probe6(tab, ai, addr, gen);
	if (ai->mode == ADDR_LPM) {
		struct lpm6_key k = { .prefixlen = 32 + 128, .gen = gen };
		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(lpm, &k);
	}
	return 0;
}

/* ctz64 counts trailing zeros of a non-zero x by binary search (clang 14's
 * BPF backend has no ctz instruction). */
static __always_inline __u32 ctz64(__u64 x)
{
	__u32 n = 0;

	if (!(x & 0xffffffffULL)) { n += 32; x >>= 32; }
	if (!(x & 0xffffULL)) { n += 16; x >>= 16; }
	if (!(x & 0xffULL)) { n += 8; x >>= 8; }
	if (!(x & 0xfULL)) { n += 4; x >>= 4; }
	if (!(x & 0x3ULL)) { n += 2; x >>= 2; }
	if (!(x & 0x1ULL)) { n += 1; }
	return n;
}

/* ident is who owns the packet's socket, as far as known. */
struct ident {
	char comm[COMM_LEN]; /* all zero: unknown */
	__u64 cgroup;        /* 0: unknown */
};

MAP(ARRAY, test_ident, 1, struct ident);

static __always_inline void read_info(struct bpf_sock *sk, struct ident *id, int cg)
{
	struct sock_info *si = bpf_sk_storage_get(&sock_info, sk, 0, 0);

	if (!si)
		return;
	__builtin_memcpy(id->comm, si->comm, COMM_LEN);
	if (cg)
		id->cgroup = si->cgroup;
}

/* ident_egress: the packet's own socket (a local sender's). */
static __always_inline void ident_egress(struct __sk_buff *skb, struct ident *id, const struct gen_info *gi)
{
	if (gi->use_cgroup)
		id->cgroup = bpf_skb_cgroup_id(skb);
	if (!gi->use_proc)
		return;
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (sk)
		read_info(sk, id, 0);
}

static __always_inline struct bpf_sock *sk_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *bt, __u32 len, __u8 proto)
{
	if (proto == IPPROTO_TCP)
		return bpf_sk_lookup_tcp(skb, bt, len, BPF_F_CURRENT_NETNS, 0);
	return bpf_sk_lookup_udp(skb, bt, len, BPF_F_CURRENT_NETNS, 0);
}

/* ident_ingress finds the local socket the packet goes to (t is as egress
 * sees the flow: src is local). A v4 packet's socket may be a dual-stack
 * v6 one: a miss retries with the v4-mapped addresses. */
static __always_inline void ident_ingress(struct __sk_buff *skb, const struct tuple *t, struct ident *id)
{
	struct bpf_sock_tuple bt = {};
	struct bpf_sock *sk;

	if (!t->has_ports || (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP))
		return;
	if (t->v6) {
		__builtin_memcpy(bt.ipv6.saddr, t->addr_dst, 16);
		__builtin_memcpy(bt.ipv6.daddr, t->addr_src, 16);
		bt.ipv6.sport = bpf_htons(t->dport);
		bt.ipv6.dport = bpf_htons(t->sport);
		sk = sk_lookup(skb, &bt, sizeof(bt.ipv6), t->proto);
	} else {
		bt.ipv4.saddr = *(const __u32 *)t->addr_dst;
		bt.ipv4.daddr = *(const __u32 *)t->addr_src;
		bt.ipv4.sport = bpf_htons(t->dport);
		bt.ipv4.dport = bpf_htons(t->sport);
		sk = sk_lookup(skb, &bt, sizeof(bt.ipv4), t->proto);
		if (!sk) {
			struct bpf_sock_tuple m = {};
			m.ipv6.saddr[2] = bpf_htonl(0xffff);
			m.ipv6.saddr[3] = *(const __u32 *)t->addr_dst;
			m.ipv6.daddr[2] = bpf_htonl(0xffff);
			m.ipv6.daddr[3] = *(const __u32 *)t->addr_src;
			m.ipv6.sport = bpf_htons(t->dport);
			m.ipv6.dport = bpf_htons(t->sport);
			sk = sk_lookup(skb, &m, sizeof(m.ipv6), t->proto);
		}
	}
	if (!sk)
		return;
	read_info(sk, id, 1);
	bpf_sk_release(sk);
}

/* match_ident folds the process and cgroup fields in: their maps are only
 * looked up when the generation has such selectors, so other policies pay
 * nothing for them. */
static __always_inline void match_ident(struct __sk_buff *skb, struct tuple *t, __u32 gen, const struct gen_info *gi, struct acc *a)
{
	struct ident id = {};
	const struct mask *m;

	if (ident_test) {
		__u32 zero = 0;
		const struct ident *ti = bpf_map_lookup_elem(&test_ident, &zero);
		if (ti)
			id = *ti;
	} else if (gi->use_proc || gi->use_cgroup) {
		if (ingress)
			ident_ingress(skb, t, &id);
		else
			ident_egress(skb, &id, gi);
	}
	m = 0;
	if (gi->use_proc && id.comm[0]) {
		struct proc_key pk = { .gen = gen };
		__builtin_memcpy(pk.comm, id.comm, COMM_LEN);
		m = bpf_map_lookup_elem(&proc_masks, &pk);
	}
	and_field(a, m, &gi->wild[F_PROC]);
	m = 0;
	if (gi->use_cgroup && id.cgroup) {
		struct cgroup_key ck = { .gen = gen, .id = id.cgroup };
		m = bpf_map_lookup_elem(&cgroup_masks, &ck);
	}
	and_field(a, m, &gi->wild[F_CGROUP]);
}

/* match returns the winning selector number, or -1. It is a global
 * function: the verifier checks it once, on its own, instead of once per
 * path through the parser (which multiplied the paths of the one by
 * those of the other, near the verifier's budget); the call costs a few
 * instructions per packet. */
__attribute__((noinline)) int match(struct __sk_buff *skb, struct tuple *t, __u32 gen)
{
	struct acc a = { .best = 0xffffffffULL };
	const struct mask *m;
	__u32 k;

	if (!skb || !t)
		return -1;
	gen &= 1;
	const struct gen_info *gi = bpf_map_lookup_elem(&gen_infos, &gen);
	if (!gi)
		return -1;

#pragma unroll
	for (int i = 0; i < MW; i++)
		a.w[i] = ~0ULL;

	k = gen * 256 + t->proto;
	m = bpf_map_lookup_elem(&proto_masks, &k);
	and_field(&a, m, &gi->wild[F_PROTO]);

	m = 0;
	if (t->has_ports) {
		k = gen * NPORTS + t->sport;
		m = bpf_map_lookup_elem(&sport_masks, &k);
	}
	and_field(&a, m, &gi->wild[F_SPORT]);
	m = 0;
	if (t->has_ports) {
		k = gen * NPORTS + t->dport;
		m = bpf_map_lookup_elem(&dport_masks, &k);
	}
	and_field(&a, m, &gi->wild[F_DPORT]);

	/* Without prefixes in the policy the address fields' entries are all
	 * empty: only their wildcards count. (This cheap path, walked first,
	 * also lets the verifier prune the lookups' paths: 110,000 instructions
	 * verified instead of 330,000.) */
	if (!gi->use_addr) {
		and_field(&a, 0, &gi->wild[F_SRC]);
		and_field(&a, 0, &gi->wild[F_DST]);
	} else if (t->v6) {
		m = lookup6(&src6_slots, &src6_masks, &gi->addr[A_SRC6], t->addr_src, gen);
		and_field(&a, m, &gi->wild[F_SRC]);
		m = lookup6(&dst6_slots, &dst6_masks, &gi->addr[A_DST6], t->addr_dst, gen);
		and_field(&a, m, &gi->wild[F_DST]);
	} else {
		m = lookup4(&src4_slots, &src4_masks, &gi->addr[A_SRC4], t->addr_src, gen);
		and_field(&a, m, &gi->wild[F_SRC]);
		m = lookup4(&dst4_slots, &dst4_masks, &gi->addr[A_DST4], t->addr_dst, gen);
		and_field(&a, m, &gi->wild[F_DST]);
	}
	match_ident(skb, t, gen, gi, &a);

	__u32 best = a.best;
	for (int i = 0; i < MW; i++) {
		if (a.w[i]) {
			k = gen * MAX_MULTI + i * 64 + ctz64(a.w[i]);
			const __u32 *sel_no = bpf_map_lookup_elem(&multi_idx, &k);
			if (sel_no && *sel_no < best)
				best = *sel_no;
			break;
		}
	}
	return best >= MAX_SELECTORS ? -1 : (int)best;
}

static __always_inline void count(void *map, __u32 idx, __u64 bytes, __u64 packets)
{
	struct counter *c = bpf_map_lookup_elem(map, &idx);

	if (!c)
		return;
	c->bytes += bytes;
	c->packets += packets;
}

#include "flow.h"
#define ICMPV6 58

/* divert sends an IP packet to its shaping device with its class, unless
 * the packet must not wait (IPv6 neighbour discovery: delaying it delays
 * address resolution) or the device is missing (fail open: a half-built
 * or half-removed path passes downloads unshaped, it never drops them;
 * bpf_check_mtu fails for an ifindex with no device). */
static __always_inline int divert(struct __sk_buff *skb, const struct tuple *t, __u32 classid)
{
	if (t->v6 && t->proto == ICMPV6) {
		__u8 type = 0;
		if (load(skb, RD_SKB, t->l3, t->l4, &type, 1) || (type >= 133 && type <= 137))
			return TCX_NEXT;
	}
	__u32 mtu = 0;
	if (bpf_check_mtu(skb, redirect_ifindex, &mtu, 0, 0) < 0)
		return TCX_NEXT;
	if (ingress_mode == PATH_IFB)
		skb->priority = classid; /* no namespace crossing: it survives */
	else
		skb->tc_index = classid & TC_INDEX_MINOR;
	return bpf_redirect(redirect_ifindex, 0);
}

SEC("tc")
int shaper_classify(struct __sk_buff *skb)
{
	/* Back from the shaping namespace: counted on the way in already. */
	if (ingress_mode == PATH_NETNS && (skb->tc_index & TC_INDEX_RETURNED)) {
		skb->tc_index = 0;
		return TCX_NEXT;
	}

	struct tuple t = {};
	const struct sel_val *res = 0;
	__u32 zero = 0, gen = 0, cgen = 0, k;
	struct flow_key fk;
	struct sel_val cached;
	int dir = ingress ? FLOW_DOWN : FLOW_UP, hit = 0, absent = 0;

	const struct config *cfg = bpf_map_lookup_elem(&config_map, &zero);
	if (cfg) {
		cgen = cfg->gen; /* a counter: flow entries compare it whole */
		gen = cgen & 1;
	}
	const struct gen_info *gi = bpf_map_lookup_elem(&gen_infos, &gen);
	if (!gi)
		return TCX_NEXT; /* cannot happen: gen is 0 or 1 */

	int ok = parse_skb(skb, &t) == 0;

	/* wire_len and max(gso_segs, 1) equal HTB's own byte and packet counts
	 * at egress; at ingress the bytes are computed. */
	__u32 packets = skb->gso_segs ? skb->gso_segs : 1;
	__u64 bytes = ingress ? ingress_bytes(skb, &t, ok, packets) : skb->wire_len;

	if (ok) {
		if (ingress)
			swap_tuple(&t);
		/* A flow whose verdict for this direction is current skips the rules. */
		flow_key_of(&t, &fk);
		struct flow_val *fe = bpf_map_lookup_elem(&flows, &fk);
		absent = !fe;
		hit = flow_verdict(fe, dir, cgen, &cached);
		if (hit) {
			flow_count(fe, dir, bytes, packets);
			res = &cached;
		} else {
			int idx = match(skb, &t, gen);
			if (idx >= 0) {
				k = gen * MAX_SELECTORS + (idx & (MAX_SELECTORS - 1));
				res = bpf_map_lookup_elem(&sel, &k);
			}
		}
	}
	if (!res)
		res = &gi->def;
	if (ok && !hit) {
		struct flow_upd u = { .bytes = bytes, .packets = packets, .gen = cgen, .l3 = t.l3, .l4 = t.l4,
				      .tcp = t.proto == IPPROTO_TCP && t.has_ports, .absent = absent };
		flow_store(skb, &fk, res, &u);
	}

	count(&app_stats, res->app, bytes, packets);
	if (shaped) {
		skb->priority = res->classid;
		count(&class_stats, res->class_slot, bytes, packets);
	}
	if (ingress_mode != PATH_NONE && ok && link_type == LINK_ETH)
		return divert(skb, &t, res->classid);
	return TCX_NEXT;
}

char __license[] SEC("license") = "Dual MIT/GPL";
