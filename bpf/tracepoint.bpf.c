// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tracepoint-only probe set, for kernels that refuse function probes.
 *
 * Every hook fires only on namespace work or on rare events, never on a hot path:
 *  - creation: the task's new nsproxy->net_ns on return from unshare(CLONE_NEWNET), and the
 *    child's on fork when it differs from the parent's;
 *  - failed creation: unshare/clone/clone3 that asked for CLONE_NEWNET and returned an error;
 *  - release and free: the cleanup_net batch hooks and refresh in netns_common.bpf.h.
 * The syscall enter hooks note CLONE_NEWNET requests per thread; the exit hooks act on them.
 */
#include "netns_common.bpf.h"

/* Layouts of the syscall tracepoints (see events/syscalls/<name>/format; stable ABI). */
struct syscall_enter { __u64 common; __s32 nr; __u32 pad; __u64 args[6]; };
struct syscall_exit  { __u64 common; __s32 nr; __u32 pad; __s64 ret; };

static __always_inline void note_request(__u64 flags)
{
	if (!(flags & CLONE_NEWNET))
		return;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pending, &tid, &flags, BPF_ANY) != 0)
		count(NETNS_STAT_PENDING_FULL);
}

/* Takes the request noted at syscall entry; false if this thread made none. */
/*
 * A failed request is reported only when it got as far as namespace work: EPERM and EINVAL
 * are refusals of the call itself (no privilege, bad flags), which the function probe sets
 * never see either, since copy_net_ns is not reached.
 */
static __always_inline bool is_creation_failure(long ret)
{
	return ret < 0 && ret != -1 /* EPERM */ && ret != -22 /* EINVAL */;
}

static __always_inline bool take_request(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&pending, &tid))
		return false;
	bpf_map_delete_elem(&pending, &tid);
	return true;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int unshare_enter(struct syscall_enter *ctx)
{
	note_request(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct syscall_exit *ctx)
{
	if (!take_request())
		return 0;
	if (ctx->ret < 0) {
		if (is_creation_failure(ctx->ret))
			emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_UNSHARE, NULL, (__s32)ctx->ret);
		return 0;
	}
	struct task_struct *task = (void *)bpf_get_current_task();
	struct net *net = task_net(task);
	if (net)
		track_net(net, NETNS_EV_CREATED, NETNS_SRC_UNSHARE, NULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int clone_enter(struct syscall_enter *ctx)
{
	note_request(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int clone3_enter(struct syscall_enter *ctx)
{
	__u64 flags = 0;   /* struct clone_args starts with its u64 flags */
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]) == 0)
		note_request(flags);
	return 0;
}

/* A successful clone is reported by the fork hook (in the parent, with the child's net). */
static __always_inline void clone_returned(struct syscall_exit *ctx)
{
	if (take_request() && is_creation_failure(ctx->ret))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit(struct syscall_exit *ctx)
{
	clone_returned(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit(struct syscall_exit *ctx)
{
	clone_returned(ctx);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_created, struct task_struct *parent, struct task_struct *child)
{
	struct net *child_net = task_net(child);
	if (!child_net || child_net == task_net(parent))
		return 0;
	track_net(child_net, NETNS_EV_CREATED, NETNS_SRC_FORK, NULL);
	return 0;
}
