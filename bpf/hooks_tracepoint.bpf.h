/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Tracepoint-only probe set, for kernels that refuse function probes.
 *
 * No tracepoint fires when a namespace is made, so creations are found as well as seen:
 *  - creation by clone/fork: the child's nsproxy->net_ns when it differs from the parent's
 *    (seen, with its creator);
 *  - every other creation is found: by the walks of the namespace list at each refresh (the
 *    alive ones) and at each cleanup batch start (those released since the last walk, which
 *    are still on the list), or sooner as the namespace of a task at its fork, exec or exit.
 *    A found namespace's creator is not known (the task may have entered it by setns);
 *    the walks bound its creation time (`created_after_ns`);
 *  - release and free: the cleanup_net batch hooks and refresh in netns_common.bpf.h;
 *  - unshare/clone/clone3 exits (with `--syscall-hooks`): each unshare's creator and time,
 *    and failed creations. Any syscall tracepoint puts every syscall of every task on the
 *    tracing path, a measurable tax on syscall-heavy work, so they are off by default.
 */
#ifndef NETNS_HOOKS_TRACEPOINT_BPF_H
#define NETNS_HOOKS_TRACEPOINT_BPF_H

#include "netns_common.bpf.h"

/* Layout of the syscall tracepoints (see events/syscalls/<name>/format; stable ABI). */
struct syscall_exit { __u64 common; __s32 nr; __u32 pad; __s64 ret; };
struct syscall_enter { __u64 common; __s32 nr; __u32 pad; __u64 args[6]; };

/*
 * A failed request is reported only when it got as far as namespace work: EPERM and EINVAL
 * are refusals of the call itself (no privilege, bad flags), which the function probe sets
 * never see either, since copy_net_ns is not reached.
 */
static __always_inline bool is_creation_failure(long ret)
{
	return ret < 0 && ret != -1 /* EPERM */ && ret != -22 /* EINVAL */;
}

/* An unshare that returned `ret` after asking for a new network namespace. */
static __always_inline void unshare_returned(long ret, struct task_struct *task)
{
	if (ret < 0) {
		if (is_creation_failure(ret))
			emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_UNSHARE, NULL, (__s32)ret);
		return;
	}
	if (task)
		notice_task_net_btf(task, true, NETNS_SRC_UNSHARE);
	else
		notice_current_net(true, NETNS_SRC_UNSHARE);
}

/*
 * Exit hooks only, from 5.15 (bpf_task_pt_regs) on: the first argument of the syscall now
 * returning is read from `task`'s saved user registers (di on x86-64, kept by unshare and
 * clone; orig_x0 on arm64, where x0 holds the return value by now). An enter hook would run
 * on every unshare and clone too.
 */
static __always_inline unsigned long syscall_arg0(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
#if defined(__TARGET_ARCH_arm64)
	/* PT_REGS_PARM1_CORE_SYSCALL, without its const read-into that newer clang refuses. */
	unsigned long arg0 = 0;
	bpf_core_read(&arg0, sizeof(arg0), &((struct pt_regs___arm64 *)regs)->orig_x0);
	return arg0;
#else
	/* A plain load, not a probe-read call: the helper returns a pointer the verifier knows
	 * (the kernel's pt_regs). */
	return regs->di;
#endif
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct syscall_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (syscall_arg0(task) & CLONE_NEWNET)
		unshare_returned(ctx->ret, task);
	return 0;
}

/* A successful clone is reported by the fork hook (in the parent, with the child's net). */
SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit(struct syscall_exit *ctx)
{
	if (is_creation_failure(ctx->ret) && (syscall_arg0(bpf_get_current_task_btf()) & CLONE_NEWNET))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit(struct syscall_exit *ctx)
{
	__u64 flags = 0;   /* struct clone_args starts with its u64 flags */
	if (!is_creation_failure(ctx->ret))
		return 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)syscall_arg0(bpf_get_current_task_btf())) == 0 &&
	    (flags & CLONE_NEWNET))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
	return 0;
}

/*
 * Before 5.15 (no bpf_task_pt_regs) the agent loads these instead: each enter hook notes, by
 * thread, a call that asks for a new network namespace, and its exit hook takes the note.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} newnet_calls SEC(".maps");

static __always_inline void note_newnet_call(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 yes = 1;
	if (bpf_map_update_elem(&newnet_calls, &tid, &yes, BPF_ANY) != 0)
		count(NETNS_STAT_PENDING_FULL);
}

/* Whether the current thread's call now returning asked for a new network namespace. */
static __always_inline bool take_newnet_call(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&newnet_calls, &tid))
		return false;
	bpf_map_delete_elem(&newnet_calls, &tid);
	return true;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int unshare_enter_noted(struct syscall_enter *ctx)
{
	if (ctx->args[0] & CLONE_NEWNET)
		note_newnet_call();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit_noted(struct syscall_exit *ctx)
{
	if (take_newnet_call())
		unshare_returned(ctx->ret, NULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int clone_enter_noted(struct syscall_enter *ctx)
{
	if (ctx->args[0] & CLONE_NEWNET)
		note_newnet_call();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit_noted(struct syscall_exit *ctx)
{
	if (take_newnet_call() && is_creation_failure(ctx->ret))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int clone3_enter_noted(struct syscall_enter *ctx)
{
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]) == 0 && (flags & CLONE_NEWNET))
		note_newnet_call();
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit_noted(struct syscall_exit *ctx)
{
	if (take_newnet_call() && is_creation_failure(ctx->ret))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_CLONE, NULL, (__s32)ctx->ret);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_created, struct task_struct *parent, struct task_struct *child)
{
	/* A namespace not followed yet at a task's fork, exec or exit was made since the last
	 * walk of the namespace list, by unshare or entered by setns: found, creator unknown. */
	notice_task_net_btf(parent, false, NETNS_SRC_FORK_PARENT);
	if (child->nsproxy->net_ns != parent->nsproxy->net_ns)
		notice_task_net_btf(child, true, NETNS_SRC_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_seen, struct task_struct *task)
{
	notice_task_net_btf(task, false, NETNS_SRC_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_seen, struct task_struct *task)
{
	notice_task_net_btf(task, false, NETNS_SRC_EXIT);
	return 0;
}

#endif /* NETNS_HOOKS_TRACEPOINT_BPF_H */
