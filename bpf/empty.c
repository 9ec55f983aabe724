//go:build ignore

// empty.c: a program that does nothing, the benchmark's baseline.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "common.h"

SEC("tc")
int shaper_empty(struct __sk_buff *skb)
{
	return TCX_NEXT;
}

char __license[] SEC("license") = "Dual MIT/GPL";
