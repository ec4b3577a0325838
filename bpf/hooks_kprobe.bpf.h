/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kprobe/kretprobe probe set, for kernels with kprobes but no BPF trampolines. The same
 * hooks as hooks_fentry.bpf.h; arguments needed at return are kept per thread in `pending`.
 */
#ifndef NETNS_HOOKS_KPROBE_BPF_H
#define NETNS_HOOKS_KPROBE_BPF_H

#include "netns_common.bpf.h"

/*
 * Calls in flight, keyed by thread id: copy_net_ns's flags, or (high bit set) setup_net's net.
 * A kretprobe has a bounded number of instances (by default twice the CPUs, at least 10), so
 * more calls in flight at once than that miss their returns and leave their entries behind.
 * A later call by the same thread overwrites or clears its entry; an LRU map bounds what
 * threads that never call again leave, without a count.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} pending SEC(".maps");


/* copy_net_ns(flags, user_ns, old_net): remember whether this call creates a namespace. */
SEC("kprobe/copy_net_ns")
int BPF_KPROBE(copy_net_ns_entry, __u64 flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!(flags & CLONE_NEWNET)) {
		/* Another namespace type made, this one shared: its return (the caller's own
		 * namespace) is no creation, whatever an earlier call's missed return left. */
		if (bpf_map_lookup_elem(&pending, &tid))
			bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	if (bpf_map_update_elem(&pending, &tid, &flags, BPF_ANY) != 0)
		count(NETNS_STAT_PENDING_FULL);
	return 0;
}

SEC("kretprobe/copy_net_ns")
int BPF_KRETPROBE(copy_net_ns_return, struct net *net)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&pending, &tid))
		return 0;
	bpf_map_delete_elem(&pending, &tid);
	report_copy_net_ns(net);
	return 0;
}

/* setup_net's net, kept for its return; keyed apart from copy_net_ns's by the high bit. */
#define SETUP_KEY(tid) ((tid) | 0x80000000u)

SEC("kprobe/setup_net")
int BPF_KPROBE(setup_net_entry, struct net *net)
{
	__u32 key = SETUP_KEY((__u32)bpf_get_current_pid_tgid());
	__u64 value = (__u64)net;
	if (bpf_map_update_elem(&pending, &key, &value, BPF_ANY) != 0)
		count(NETNS_STAT_PENDING_FULL);
	return 0;
}

SEC("kretprobe/setup_net")
int BPF_KRETPROBE(setup_net_return, long ret)
{
	__u32 key = SETUP_KEY((__u32)bpf_get_current_pid_tgid());
	__u64 *net = bpf_map_lookup_elem(&pending, &key);
	if (!net)
		return 0;
	struct net *setup = (struct net *)*net;
	bpf_map_delete_elem(&pending, &key);
	report_setup_net(setup, ret);
	return 0;
}

SEC("kprobe/__put_net")
int BPF_KPROBE(put_net_kprobe, struct net *net)
{
	release_net(net, NETNS_SRC_PUT_NET);
	return 0;
}

#endif /* NETNS_HOOKS_KPROBE_BPF_H */
