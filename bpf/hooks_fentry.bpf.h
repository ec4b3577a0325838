/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fentry/fexit probe set, preferred where the kernel has BPF trampolines: the lifecycle
 * functions themselves, with their arguments and results.
 *  - fexit/copy_net_ns: creation (only with CLONE_NEWNET; an ERR_PTR result is a failure);
 *  - fexit/setup_net: the pernet init result. Its signature lost its user_ns argument in
 *    6.13, and fexit finds the result after the arguments: the agent loads the program whose
 *    arguments the kernel's BTF shows (bpf_get_func_arg/ret would need 5.17);
 *  - fentry/__put_net: the last active reference is gone;
 *  - cleanup batches, frees and refresh: netns_common.bpf.h.
 */
#ifndef NETNS_HOOKS_FENTRY_BPF_H
#define NETNS_HOOKS_FENTRY_BPF_H

#include "netns_common.bpf.h"

SEC("fexit/copy_net_ns")
int BPF_PROG(copy_net_ns_exit, __u64 flags, void *user_ns, struct net *old_net, struct net *net)
{
	if (flags & CLONE_NEWNET)
		report_copy_net_ns(net);
	return 0;
}

SEC("fexit/setup_net")
int BPF_PROG(setup_net_exit, struct net *net, void *user_ns, int ret)
{
	report_setup_net(net, ret);
	return 0;
}

SEC("fexit/setup_net")
int BPF_PROG(setup_net_exit_net_only, struct net *net, int ret)
{
	report_setup_net(net, ret);
	return 0;
}

SEC("fentry/__put_net")
int BPF_PROG(put_net_entry, struct net *net)
{
	release_net(net, NETNS_SRC_PUT_NET);
	return 0;
}

#endif /* NETNS_HOOKS_FENTRY_BPF_H */
