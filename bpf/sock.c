//go:build ignore

// sock.c: records who creates each socket (pid, comm, cgroup) in the
// socket's local storage, for the classifier's process and cgroup
// selectors. Attached once per host to the cgroup v2 root, shared by every
// policy. It never refuses a socket.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sock_info.h"

SEC("cgroup/sock_create")
int shaper_sock_create(struct bpf_sock *sk)
{
	struct sock_info *si = bpf_sk_storage_get(&sock_info, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (si) {
		si->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(si->comm, sizeof(si->comm));
		si->cgroup = bpf_get_current_cgroup_id();
	}
	return 1; /* allow */
}

char __license[] SEC("license") = "Dual MIT/GPL";
