//go:build ignore

// redirect.c: the two small programs of the download path's shaping
// namespace (docs/downloads.md). The classifier on the interface's ingress
// classifies and counts a download packet, puts its class minor in
// skb->tc_index (priority is zeroed by the veth forward and mark scrubbed
// across namespaces; tc_index survives both: measured on 6.18 and 6.1) and
// redirects it into the veth host end. Inside the shaping namespace
// shaper_inner turns the minor back into skb->priority and sends the packet
// out of the same veth end, where HTB or TBF shape it. Back in the host
// namespace shaper_return marks it as returned and hands it to the
// interface's ingress, as if it had just arrived there; the classifier
// sees the mark, clears it and lets it pass without counting it again.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "common.h"
#include "redirect.h"

/* Knobs, set from Go before load. */
volatile const __u32 major = 0x10000; /* the shaping qdisc's handle (1:) */
volatile const __u32 target = 0;      /* shaper_return: the shaped interface's ifindex */

SEC("tc")
int shaper_inner(struct __sk_buff *skb)
{
	__u32 minor = skb->tc_index & TC_INDEX_MINOR;

	/* 0: no class carried (cannot happen for a redirected packet):
	 * HTB's default class takes it. */
	skb->priority = minor ? (major & 0xffff0000) | minor : 0;
	skb->tc_index = 0;
	return bpf_redirect(skb->ifindex, 0);
}

SEC("tc")
int shaper_return(struct __sk_buff *skb)
{
	__u32 mtu = 0;

	/* The interface is gone: there is nothing to hand the packet back
	 * to, and passing it up here would make it arrive on the wrong
	 * interface (past any iifname rule): drop it. */
	if (!target || bpf_check_mtu(skb, target, &mtu, 0, 0) < 0)
		return TC_ACT_SHOT;
	skb->tc_index = TC_INDEX_RETURNED;
	return bpf_redirect(target, BPF_F_INGRESS);
}

char __license[] SEC("license") = "Dual MIT/GPL";
