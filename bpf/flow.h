/* flow.h: the flow table (docs/classifier-maps.md). One LRU hash per
 * interface, shared by its hooks (the loader pins it once under
 * <key>/<iface>/shared/ and hands it to every hook's program), keyed by the
 * 5-tuple as egress sees the flow: the ingress hook has reversed the tuple
 * before it looks, so a connection's upload and download share one entry.
 *
 * An entry caches each direction's verdict with the rule generation
 * (config.gen, a counter that every rule change bumps) it was made under:
 * a later packet of the flow whose direction's generation is current skips
 * match(); a stale one is evaluated again and rewritten. Per-CPU app_stats
 * and class_stats stay the truth: an evicted entry loses only its detail.
 *
 * Only the parts below touch the table; shaper_classify looks the flow up
 * before match() (flow_verdict) and calls flow_store after it. */
#ifndef SHAPER_FLOW_H
#define SHAPER_FLOW_H

#define FLOW_ENTRIES 65536 /* placeholder: the loader sizes the table (flag, default 65,536) */
#define FLOW_UP 0
#define FLOW_DOWN 1

/* The 5-tuple as egress sees the flow; ports are 0 for packets without
 * them (later fragments, ICMP, other protocols). */
struct flow_key {
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u16 sport, dport; /* host order */
	__u8 src[16], dst[16]; /* IPv4: the first 4 bytes, the rest zero */
	__u8 ports; /* 1: the ports are the packet's (match() tells port 0 from none) */
	__u8 pad;
};

/* Per direction ([FLOW_UP] from the egress hook, [FLOW_DOWN] from the
 * ingress hook): the verdict and the generation it was made under, valid
 * when the direction's bit is set in seen. The hooks' generations are
 * counters of their own, hence one per direction. */
struct flow_val {
	__u32 gen[2];
	__u32 classid[2];   /* HTB class ids (skb->priority) */
	__u16 class_slot[2]; /* class_stats slots */
	__u16 app[2];
	__u8 seen;           /* bit FLOW_UP, bit FLOW_DOWN: that direction's verdict is set */
	__u8 pad[3];
	__u32 pid;           /* 0 when unknown */
	__u64 bytes[2];      /* as app_stats counts them */
	__u64 packets[2];
	__u64 first_seen, last_seen; /* bpf_ktime_get_ns; last_seen lags by up to 15 packets (flow_count) */
	char comm[16];       /* "" when unknown */
	__u64 cgroup;        /* cgroup v2 id of the sending socket; 0 when unknown */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_ENTRIES);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

#define FLOW_MISS_ALL 0
#define FLOW_MISS_NOSYN 1 /* a TCP packet without SYN: an established flow the LRU evicted (or one older than the table) */
MAP(PERCPU_ARRAY, flow_misses, 2, __u64);

static __always_inline void flow_key_of(const struct tuple *t, struct flow_key *k)
{
	k->family = t->v6 ? 6 : 4;
	k->proto = t->proto;
	k->sport = t->sport;
	k->dport = t->dport;
	/* IPv4 addresses are followed by zeros in t (parse writes 4 bytes
	 * of a zeroed tuple): no branch on the family. */
	__builtin_memcpy(k->src, t->addr_src, 16);
	__builtin_memcpy(k->dst, t->addr_dst, 16);
	k->ports = t->has_ports;
	k->pad = 0;
}

/* flow_verdict fills v from e's verdict for direction dir, when e has one
 * made under generation gen. */
static __always_inline int flow_verdict(const struct flow_val *e, int dir, __u32 gen, struct sel_val *v)
{
	if (!e || !(e->seen & (1 << dir)) || e->gen[dir] != gen)
		return 0;
	v->app = e->app[dir];
	v->classid = e->classid[dir];
	v->class_slot = e->class_slot[dir];
	return 1;
}

static __always_inline void flow_set(struct flow_val *e, int dir, __u32 gen, const struct sel_val *v)
{
	e->gen[dir] = gen;
	e->app[dir] = v->app;
	e->classid[dir] = v->classid;
	e->class_slot[dir] = v->class_slot;
	e->seen |= 1 << dir;
}

static __always_inline void flow_miss(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&flow_misses, &which);

	if (n)
		*n += 1;
}

/* tcp_syn says whether the TCP segment with its header at l4 from the IP
 * header at l3 has SYN set. Only misses ask, so a helper call does. */
static __always_inline int tcp_syn(struct __sk_buff *skb, __u32 l3, __u32 l4)
{
	__u8 flags = 0;
	int r;

	if (link_type == LINK_NET)
		r = bpf_skb_load_bytes_relative(skb, l4 + 13, &flags, 1, BPF_HDR_START_NET);
	else
		r = bpf_skb_load_bytes(skb, l3 + l4 + 13, &flags, 1);
	return r == 0 && (flags & 0x02);
}

/* flow_owner fills in who owns the flow: at egress, the socket-local
 * record of the packet's socket (bpf/sock_info.h, written when the socket
 * was made, or by the walk of sockets open before apply) and the socket's
 * cgroup. Not bpf_get_current_pid_tgid/comm: at tc egress they name
 * whatever task runs when the packet leaves (often softirq). At ingress
 * the owner is left for the flow's first egress packet: a flow first seen
 * at ingress (an incoming connection) reaches flow_store on its first
 * reply, whose verdict for the up direction is not yet set. Only hosts
 * whose policy uses process or cgroup selectors record sockets
 * (loader.EnsureSock); elsewhere pid and comm stay unknown. */
static __always_inline void flow_owner(struct __sk_buff *skb, struct flow_val *e)
{
	if (ingress || e->pid)
		return;
	e->cgroup = bpf_skb_cgroup_id(skb);
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	struct sock_info *si = bpf_sk_storage_get(&sock_info, sk, 0, 0);
	if (!si)
		return;
	e->pid = si->pid;
	__builtin_memcpy(e->comm, si->comm, sizeof(e->comm));
}

/* flow_count adds the packet to the entry. last_seen is refreshed on the
 * first packet of each direction and on every 16th (counted before this
 * one) after it: a clock read is a helper call, 27 ns here, more than
 * half of a hit. So last_seen lags the last packet by at most 15 packets
 * of the direction. */
static __always_inline void flow_count(struct flow_val *e, int dir, __u64 bytes, __u32 packets)
{
	__u64 before = e->packets[dir & 1]; /* racy: only picks when to read the clock */

	__sync_fetch_and_add(&e->bytes[dir & 1], bytes);
	__sync_fetch_and_add(&e->packets[dir & 1], (__u64)packets);
	if (!(before & 15))
		e->last_seen = bpf_ktime_get_ns();
}

/* What flow_store needs besides the key and the verdict. */
struct flow_upd {
	__u64 bytes;
	__u32 packets;
	__u32 gen;
	__u32 l3, l4;  /* of the tuple: where the TCP flags are */
	__u32 tcp;     /* a TCP packet with ports */
	__u32 absent;  /* the caller's lookup found no entry: skip looking again */
};

/* flow_store records verdict v of direction dir under generation u->gen
 * in the flow's entry, or in a new one, and counts the packet there.
 *
 * A global function: the verifier checks it once, not again for every
 * path through the parser that reaches it (it walked three times as much
 * inlined). It looks the flow up again rather than take the first
 * lookup's pointer: a pointer kept alive across match() doubles the
 * states the verifier keeps apart. */
__noinline int flow_store(struct __sk_buff *skb, const struct flow_key *k, const struct sel_val *v,
			  const struct flow_upd *u)
{
	int dir = ingress ? FLOW_DOWN : FLOW_UP;

	if (!k || !v || !u)
		return 0;
	/* A copy on the stack: 6.1 takes no argument memory as a map key. */
	struct flow_key key = *k;
	struct flow_val *e = u->absent ? 0 : bpf_map_lookup_elem(&flows, &key);
	if (!e) {
		flow_miss(FLOW_MISS_ALL);
		if (u->tcp && !tcp_syn(skb, u->l3, u->l4))
			flow_miss(FLOW_MISS_NOSYN);
		struct flow_val n = {};
		n.first_seen = bpf_ktime_get_ns();
		flow_owner(skb, &n);
		/* NOEXIST: another CPU may have made it meanwhile; then use
		 * its. The verdict is set in the map's value, not in n:
		 * indexing the stack by dir makes clang OR the index into the
		 * (aligned) stack pointer, which the verifier refuses. Until
		 * it is set, a packet on another CPU finds no verdict and
		 * evaluates the rules itself. */
		bpf_map_update_elem(&flows, &key, &n, BPF_NOEXIST);
		e = bpf_map_lookup_elem(&flows, &key);
		if (!e)
			return 0;
	} else if (!e->pid) {
		flow_owner(skb, e);
	}
	flow_set(e, dir, u->gen, v);
	flow_count(e, dir, u->bytes, u->packets);
	return 1;
}

#endif
