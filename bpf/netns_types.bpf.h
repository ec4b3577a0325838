/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types the programs read, and the headers they build on. No vmlinux.h: each type
 * lists only the fields used and carries preserve_access_index, so libbpf relocates every
 * offset against the running kernel's BTF.
 */
#ifndef NETNS_TYPES_BPF_H
#define NETNS_TYPES_BPF_H

#define __VMLINUX_H__ /* tells bpf_tracing.h to use the kernel's pt_regs field names */
#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "netns_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CLONE_NEWNET 0x40000000
#define NSFS_MAGIC 0x6e736673
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MAX_ERRNO 4095

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct { int counter; } atomic_t;
typedef struct refcount_struct { atomic_t refs; } refcount_t;

struct proc_ns_operations { int type; };               /* `type` is gone in 6.18 */
struct ns_common {
	unsigned int inum;
	refcount_t __ns_ref;                              /* 6.18+: active references */
	int ns_type;                                      /* 6.18+ */
	const struct proc_ns_operations *ops;
	__u64 ns_id;                                      /* 6.18+: the namespace's id, also its net_cookie */
};
struct ns_common___pre618 { refcount_t count; };   /* 5.11 to 6.17: active references */

struct list_head { struct list_head *next; };
struct net {
	refcount_t passive;
	struct list_head list;                            /* on net_namespace_list while alive */
	struct ns_common ns;
	__u64 net_cookie;                                 /* 5.12+: set at setup */
	__u32 hash_mix;                                   /* random, set at setup */
};
struct net___pre618 { struct ns_common___pre618 ns; };
struct net___pre511 { refcount_t count; };         /* up to 5.10: active references */

struct nsproxy { struct net *net_ns; };
typedef struct { unsigned int val; } kuid_t;
struct cred { kuid_t uid; };
struct task_struct {
	int pid;
	int tgid;
	struct nsproxy *nsproxy;
	struct task_struct *real_parent;
	struct cred *real_cred;
	char comm[16];
};
struct work_struct { void *func; };
struct bpf_map;

struct super_block { unsigned long s_magic; };
struct inode {
	unsigned short i_mode;
	struct super_block *i_sb;
	void *i_private;
};
struct file {
	struct inode *f_inode;
	void *private_data;
};
typedef struct { struct net *net; } possible_net_t;
struct sock_common { possible_net_t skc_net; };
struct sock { struct sock_common __sk_common; };
struct socket { struct sock *sk; };

/* The saved registers, by architecture (the build host's, `__TARGET_ARCH_*`): only what
 * bpf_tracing.h's PT_REGS_* macros read for kprobe arguments and syscall arguments. */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long di, si, dx, cx, r8, r9, ax, sp, ip, bp, bx;
};
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp, pc, pstate;
};
struct pt_regs;
#else
#error "the BPF programs name the registers of x86-64 and arm64 only (bpf/netns_core.bpf.h)"
#endif

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; };
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; };
struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
};
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

#pragma clang attribute pop

#endif /* NETNS_TYPES_BPF_H */
