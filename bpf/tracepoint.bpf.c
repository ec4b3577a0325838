// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tracepoint-only probe set, for kernels that refuse function probes.
 *
 * Every hook fires only on namespace work or on rare events, never on a hot path:
 *  - creation: the task's new nsproxy->net_ns on return from unshare(CLONE_NEWNET), and the
 *    child's on fork when it differs from the parent's;
 *  - failed creation: unshare/clone/clone3 that asked for CLONE_NEWNET and returned an error
 *    (exit tracepoints only; the request's flags are read from the saved registers);
 *  - release and free: the cleanup_net batch hooks and refresh in netns_common.bpf.h.
 */
#include "netns_common.bpf.h"

/* Layout of the syscall exit tracepoints (see events/syscalls/<name>/format; stable ABI). */
struct syscall_exit { __u64 common; __s32 nr; __u32 pad; __s64 ret; };

/*
 * The first argument of the syscall now returning, read from the task's saved user registers
 * (di on x86-64; unchanged by unshare and clone). Only exit tracepoints are used: an enter
 * hook would make every syscall on the host take the tracing path on entry too.
 */
static __always_inline unsigned long syscall_arg0(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	return BPF_CORE_READ(regs, di);
}

/*
 * A failed request is reported only when it got as far as namespace work: EPERM and EINVAL
 * are refusals of the call itself (no privilege, bad flags), which the function probe sets
 * never see either, since copy_net_ns is not reached.
 */
static __always_inline bool is_creation_failure(long ret)
{
	return ret < 0 && ret != -1 /* EPERM */ && ret != -22 /* EINVAL */;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct syscall_exit *ctx)
{
	if (!(syscall_arg0() & CLONE_NEWNET))
		return 0;
	if (ctx->ret < 0) {
		if (is_creation_failure(ctx->ret))
			emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_UNSHARE, NULL, (__s32)ctx->ret);
		return 0;
	}
	struct net *net = task_net((struct task_struct *)bpf_get_current_task());
	if (net)
		track_net(net, NETNS_EV_CREATED, NETNS_SRC_UNSHARE, NULL);
	return 0;
}

/* A successful clone is reported by the fork hook (in the parent, with the child's net). */
SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit(struct syscall_exit *ctx)
{
	if (is_creation_failure(ctx->ret) && (syscall_arg0() & CLONE_NEWNET))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit(struct syscall_exit *ctx)
{
	__u64 flags = 0;   /* struct clone_args starts with its u64 flags */
	if (!is_creation_failure(ctx->ret))
		return 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)syscall_arg0()) == 0 && (flags & CLONE_NEWNET))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
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
