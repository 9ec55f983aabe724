/* sock_info.h: the per-socket record shaper keeps for every socket on the
 * host, written by cgroup/sock_create (bpf/sock.c) and read by the
 * classifier (bpf/classifier.c): who opened the socket. One map for the
 * host, pinned at /sys/fs/bpf/shaper/sock/sock_info; the classifier's copy
 * of this definition is replaced by the pinned map at load. */
#ifndef SHAPER_SOCK_INFO_H
#define SHAPER_SOCK_INFO_H

#define COMM_LEN 16

struct sock_info {
	__u32 pid;           /* tgid of the creating process */
	__u32 pad;
	char comm[COMM_LEN]; /* its comm, NUL-padded */
	__u64 cgroup;        /* its cgroup v2 id (inode of the cgroup's directory) */
};

/* BPF_F_CLONE: a socket accepted from a listener inherits the listener's
 * record (the server that listens is the one that owns the connection). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_info);
} sock_info SEC(".maps");

#endif
