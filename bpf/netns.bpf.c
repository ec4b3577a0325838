// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The one BPF object of netns-tracer: every probe set's hooks, and what all of them share.
 * The agent chooses at load time which programs load (ProbeSet, ProgramVariants):
 *  - the hooks of one set, by section: fentry/fexit (hooks_fentry.bpf.h), kprobe/kretprobe
 *    (hooks_kprobe.bpf.h), or tracepoint and tp_btf (hooks_tracepoint.bpf.h);
 *  - of those and of the shared programs (netns_common.bpf.h), the variant the running kernel
 *    verifies (`_bounded` where it has no bpf_loop, `_noted` syscall hooks where it cannot
 *    read a syscall's arguments at its exit, setup_net's hook by its signature).
 * Maps only one set uses (kprobe's `pending`, the syscall hooks' `newnet_calls`) are created
 * only for it. The programs that do not load cost nothing in the kernel: libbpf neither
 * verifies them nor creates what only they use.
 */
#include "netns_common.bpf.h"
#include "hooks_fentry.bpf.h"
#include "hooks_kprobe.bpf.h"
#include "hooks_tracepoint.bpf.h"
