/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Programs every probe set carries, whatever it hooks for creation and release:
 *  - the start and end of each cleanup_net batch on the netns workqueue, where released
 *    namespaces are found (active count zero) and freed ones too (passive count zero);
 *  - `refresh`, run by the agent every few seconds (BPF_PROG_TEST_RUN) to re-read refcounts;
 *  - two iterators for the discovery pass: namespaces of every task, and those held through
 *    a file (an nsfs file such as a bind mount the agent opened, or a socket).
 * Include it once, from a probe set's .bpf.c, after netns_core.bpf.h.
 */
#ifndef NETNS_COMMON_BPF_H
#define NETNS_COMMON_BPF_H

#include "netns_core.bpf.h"

extern const void cleanup_net __ksym __weak;

static __always_inline bool is_cleanup_net(const void *func)
{
	return &cleanup_net && func == &cleanup_net;
}

SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(cleanup_batch_start, struct work_struct *work)
{
	if (!is_cleanup_net(BPF_CORE_READ(work, func)))
		return 0;
	emit(NETNS_EV_CLEANUP_START, NETNS_SRC_CLEANUP_START, NULL, 0);
	/* The batch about to run holds exactly the namespaces whose active count is zero. */
	scan_tracked(NETNS_SRC_CLEANUP_START, false);
	return 0;
}

SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(cleanup_batch_end, struct work_struct *work, void *function)
{
	if (!is_cleanup_net(function))
		return 0;
	/* The batch dropped its passive references: freed namespaces now read zero. */
	scan_tracked(NETNS_SRC_CLEANUP_END, false);
	emit(NETNS_EV_CLEANUP_END, NETNS_SRC_CLEANUP_END, NULL, 0);
	return 0;
}

/* Not attached: the agent runs it on demand to refresh every tracked namespace. */
SEC("raw_tp")
int refresh(void *ctx)
{
	scan_tracked(NETNS_SRC_REFRESH, true);
	return 0;
}

SEC("iter/task")
int discover_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	struct net *net = task_net(task);
	if (!net)
		return 0;            /* an exiting task has no nsproxy */
	__u64 key = (__u64)net;
	if (bpf_map_lookup_elem(&tracked, &key))
		return 0;
	track_net(net, NETNS_EV_DISCOVERED, NETNS_SRC_DISCOVERY_TASK, task);
	return 0;
}

/* The namespace a file holds: an nsfs file of a network namespace, or a socket's. */
static __always_inline struct net *file_net(struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	unsigned short mode = BPF_CORE_READ(inode, i_mode);

	if ((mode & S_IFMT) == S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(file, private_data);
		return BPF_CORE_READ(sock, sk, __sk_common.skc_net.net);
	}
	if (BPF_CORE_READ(inode, i_sb, s_magic) != NSFS_MAGIC)
		return NULL;
	struct ns_common *ns = BPF_CORE_READ(inode, i_private);
	int type = 0;
	if (bpf_core_field_exists(ns->ns_type)) {
		bpf_core_read(&type, sizeof(type), &ns->ns_type);
	} else {
		const struct proc_ns_operations *ops = BPF_CORE_READ(ns, ops);
		bpf_core_read(&type, sizeof(type), &ops->type);
	}
	if (type != CLONE_NEWNET)
		return NULL;
	return (struct net *)((char *)ns - bpf_core_field_offset(struct net, ns));
}

SEC("iter/task_file")
int discover_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	if (!file)
		return 0;
	struct net *net = file_net(file);
	if (!net)
		return 0;
	__u64 key = (__u64)net;
	if (bpf_map_lookup_elem(&tracked, &key))
		return 0;
	track_net(net, NETNS_EV_DISCOVERED, NETNS_SRC_DISCOVERY_FILE, ctx->task);
	return 0;
}

#endif /* NETNS_COMMON_BPF_H */
