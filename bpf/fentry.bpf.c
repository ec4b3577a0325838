// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fentry/fexit probe set, preferred where the kernel has BPF trampolines: the lifecycle
 * functions themselves, with their arguments and results.
 *  - fexit/copy_net_ns: creation (only with CLONE_NEWNET; an ERR_PTR result is a failure);
 *  - fexit/setup_net: the pernet init result. Its signature lost an argument around 6.12,
 *    so the net and the result are read with bpf_get_func_arg/ret, not by position;
 *  - fentry/__put_net: the last active reference is gone;
 *  - cleanup batches, frees and refresh: netns_common.bpf.h.
 */
#include "netns_common.bpf.h"

SEC("fexit/copy_net_ns")
int BPF_PROG(copy_net_ns_exit, __u64 flags, void *user_ns, struct net *old_net, struct net *net)
{
	if (flags & CLONE_NEWNET)
		report_copy_net_ns(net);
	return 0;
}

SEC("fexit/setup_net")
int BPF_PROG(setup_net_exit)
{
	__u64 net = 0, ret = 0;
	if (bpf_get_func_arg(ctx, 0, &net) || bpf_get_func_ret(ctx, &ret))
		return 0;
	report_setup_net((struct net *)net, (long)ret);
	return 0;
}

SEC("fentry/__put_net")
int BPF_PROG(put_net_entry, struct net *net)
{
	release_net(net, NETNS_SRC_PUT_NET);
	return 0;
}
