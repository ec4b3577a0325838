// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Empty programs on the tracepoints the agent hooks on every fork and exit: what the kernel
 * charges any program there (dispatch and bpf_stats' own clock reads). benchmarks/run
 * subtracts it from the agent's programs to see what their bodies cost. */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_process_fork")
int empty_fork(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exit")
int empty_exit(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
