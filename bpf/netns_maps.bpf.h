/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The maps every probe set shares (the ring buffer, the followed namespaces, the dying set,
 * the agent's settings) and the per-CPU counters of what the programs could not do.
 */
#ifndef NETNS_MAPS_BPF_H
#define NETNS_MAPS_BPF_H

#include "netns_types.bpf.h"

/* ---- Maps --------------------------------------------------------------------------- */

/* Size is set by the agent before load (--ring-buffer-size); this is the default. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* 1 while the agent's reader sleeps because nothing arrived in its last poll: the next event
 * clears it and wakes the reader. Written by the agent, cleared here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} reader_asleep SEC(".maps");

/* Per-CPU failure counters, indexed by enum netns_stat; the agent exports their sum. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETNS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* What the kernel side remembers about a namespace it follows: bpf/netns_event.h. */
#define TRACKED_ALIVE NETNS_TRACKED_ALIVE
#define TRACKED_RELEASED NETNS_TRACKED_RELEASED
#define TRACKED_TORN_DOWN NETNS_TRACKED_TORN_DOWN
#define tracked_net netns_tracked

/* The released namespaces not yet freed or torn down, by identity (as in `tracked`), with the
 * cleanup batch tearing each down (0 until one starts): the only ones a batch's start and end
 * need to look at. Each is also in `tracked`, and the agent sizes both alike before load:
 * when releases outrun the netns workqueue, every followed namespace may be waiting here at
 * once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} dying SEC(".maps");

/* cleanup_net batches seen to start (a batch's number while it runs). */
__u32 cleanup_batch = 0;

/* Settings written by the agent (struct netns_config at slot 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netns_config);
} config SEC(".maps");

/*
 * Every namespace the agent follows, alive or dying, keyed by its identity (the cookie,
 * read_cookie): one entry per namespace, from the moment it is first seen until its free is
 * sent. Not by address: a freed namespace's memory is soon another's, and a slot per address
 * had the new namespace take the old one's entry while a scan on another CPU was still
 * reporting the old one (the old one then counted twice, or the new one's entry deleted).
 * Its size is set by the agent before load. Scans of a hash map visit every bucket, so it is
 * sized for the host, not for the worst case.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tracked_net);
} tracked SEC(".maps");

/* ---- Counting failures -------------------------------------------------------------- */

/*
 * How many entries `tracked` holds, kept exactly: counted up by each insert that adds a key,
 * down by each delete that removes one. A refresh that finds fewer followed namespaces on the
 * kernel's list knows some are off it (a zombie, a batch running or stuck, one released while
 * a batch start walked the list, one whose batch end could not be reported) and scans them.
 */
__s64 tracked_entries = 0;

/*
 * When the last complete walk of the kernel's namespace list began (CLOCK_MONOTONIC), by a
 * refresh or a cleanup batch start. Every walk follows each namespace it finds, and the kernel
 * appends a namespace to the list as its setup ends: one not followed yet was made after that
 * moment, which is what a namespace found without its creation being seen is said to be.
 */
__u64 list_walk_epoch = 0;

/*
 * Adds `delta` to `*counter` atomically, without reading it back: the one atomic every kernel
 * since 4.x verifies (BPF_XADD). The compiler turns __sync_fetch_and_add into a fetching
 * atomic, which kernels before 5.12 refuse ("BPF_STX uses reserved fields").
 */
static __always_inline void add_atomic(__s64 *counter, __s64 delta)
{
	asm volatile("lock *(u64 *)(%[counter] + 0) += %[delta]"
		     : : [counter] "r"(counter), [delta] "r"(delta) : "memory");
}

static __always_inline void count(__u32 stat)
{
	__u64 *slot = bpf_map_lookup_elem(&stats, &stat);
	if (slot)
		*slot += 1;
}

#endif /* NETNS_MAPS_BPF_H */
