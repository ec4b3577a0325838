/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CO-RE helpers shared by every probe set: the few kernel types we read, the maps, and the
 * functions that read a namespace's identity and refcounts on any kernel from 5.10 on.
 *
 * No vmlinux.h: each kernel type below lists only the fields we use and carries
 * preserve_access_index, so libbpf relocates every offset against the running kernel's BTF.
 */
#ifndef NETNS_CORE_BPF_H
#define NETNS_CORE_BPF_H

#define __VMLINUX_H__ /* tells bpf_tracing.h to use the kernel's pt_regs field names */
#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "netns_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CLONE_NEWNET 0x40000000
#define NSFS_MAGIC 0x6e736673
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MAX_ERRNO 4095

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct { int counter; } atomic_t;
typedef struct refcount_struct { atomic_t refs; } refcount_t;

struct proc_ns_operations { int type; };               /* `type` is gone in 6.18 */
struct ns_common {
	unsigned int inum;
	refcount_t __ns_ref;                              /* 6.18+: active references */
	int ns_type;                                      /* 6.18+ */
	const struct proc_ns_operations *ops;
	__u64 ns_id;                                      /* 6.18+: the namespace's id, also its net_cookie */
};
struct ns_common___pre618 { refcount_t count; };   /* 5.11 to 6.17: active references */

struct list_head { struct list_head *next; };
struct net {
	refcount_t passive;
	struct list_head list;                            /* on net_namespace_list while alive */
	struct ns_common ns;
	__u64 net_cookie;                                 /* 5.12+: set at setup */
	__u32 hash_mix;                                   /* random, set at setup */
};
struct net___pre618 { struct ns_common___pre618 ns; };
struct net___pre511 { refcount_t count; };         /* up to 5.10: active references */

struct nsproxy { struct net *net_ns; };
typedef struct { unsigned int val; } kuid_t;
struct cred { kuid_t uid; };
struct task_struct {
	int pid;
	int tgid;
	struct nsproxy *nsproxy;
	struct task_struct *real_parent;
	struct cred *real_cred;
	char comm[16];
};
struct work_struct { void *func; };
struct bpf_map;

struct super_block { unsigned long s_magic; };
struct inode {
	unsigned short i_mode;
	struct super_block *i_sb;
	void *i_private;
};
struct file {
	struct inode *f_inode;
	void *private_data;
};
typedef struct { struct net *net; } possible_net_t;
struct sock_common { possible_net_t skc_net; };
struct sock { struct sock_common __sk_common; };
struct socket { struct sock *sk; };

struct pt_regs {
	unsigned long di, si, dx, cx, r8, r9, ax, sp, ip, bp, bx;
};

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; };
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; };
struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
};
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

#pragma clang attribute pop

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

/* The released namespaces not yet freed or torn down, with the cleanup batch tearing each
 * down (0 until one starts): the only ones a batch's start and end need to look at. Each is
 * also in `tracked`, and the agent sizes both alike before load: when releases outrun the
 * netns workqueue, every followed namespace may be waiting here at once. */
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

/* Every namespace the agent follows, alive or dying; its size is set by the agent before load.
 * Scans of a hash map visit every bucket, so it is sized for the host, not for the worst case. */
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

/* ---- Reading a struct net on any kernel --------------------------------------------- */

static __always_inline bool is_err_ptr(const void *ptr)
{
	return (unsigned long)ptr >= (unsigned long)-MAX_ERRNO;
}

/* The identity and refcounts of one namespace at one moment. */
struct net_reading {
	__u64 cookie;
	__u32 inum;
	__s32 active;
	__s32 passive;
	bool readable;  /* false when the memory could not be read at all */
};

/* The active reference count of `net`, NETNS_REFS_UNKNOWN if it cannot be read. */
static __always_inline __s32 read_active(struct net *net)
{
	int counter;
	if (bpf_core_field_exists(net->ns.__ns_ref)) {
		if (bpf_core_read(&counter, sizeof(counter), &net->ns.__ns_ref.refs.counter) == 0)
			return counter;
	} else if (bpf_core_field_exists(((struct net___pre618 *)net)->ns.count)) {
		struct net___pre618 *old = (void *)net;
		if (bpf_core_read(&counter, sizeof(counter), &old->ns.count.refs.counter) == 0)
			return counter;
	} else {
		struct net___pre511 *oldest = (void *)net;
		if (bpf_core_read(&counter, sizeof(counter), &oldest->count.refs.counter) == 0)
			return counter;
	}
	return NETNS_REFS_UNKNOWN;
}

/*
 * A namespace's identity for this boot: its net_cookie, which the kernel sets at setup from
 * 5.12 on. From 6.18 the kernel sets it to the namespace's id (`net->net_cookie =
 * ns_tree_gen_id(&net->ns)`), which sits beside the inum and the active count rather than
 * four KiB further on: reading it there spares the refresh a cache miss per namespace, and
 * it stays readable once net_cookie is gone (its removal is planned upstream). Before 5.12,
 * the cookie was made only when something asked for it (an atomic64_t, zero until then, and
 * changing when first asked), so there the identity is made of what setup did set: the inum,
 * unique among namespaces alive, and the namespace's random hash seed, which tells apart two
 * namespaces given the same inum one after the other. Never zero.
 * Probe reads: `net` may be any pointer; zero if it cannot be read.
 */
static __always_inline __u64 read_cookie(struct net *net)
{
	__u64 cookie = 0;
	__u32 inum = 0, mix = 0;
	if (bpf_core_field_exists(net->ns.ns_id)) {
		bpf_core_read(&cookie, sizeof(cookie), &net->ns.ns_id);
		return cookie;
	}
	if (bpf_core_field_exists(net->net_cookie)) {
		bpf_core_read(&cookie, sizeof(cookie), &net->net_cookie);
		return cookie;
	}
	if (bpf_core_read(&inum, sizeof(inum), &net->ns.inum) || bpf_core_read(&mix, sizeof(mix), &net->hash_mix))
		return 0;
	return inum ? (__u64)inum << 32 | mix : 0;
}

/* read_cookie for a pointer the verifier knows as a kernel `struct net` (plain loads). */
static __always_inline __u64 cookie_btf(struct net *net)
{
	if (bpf_core_field_exists(net->ns.ns_id))
		return net->ns.ns_id;
	if (bpf_core_field_exists(net->net_cookie))
		return net->net_cookie;
	__u32 inum = net->ns.inum;
	return inum ? (__u64)inum << 32 | net->hash_mix : 0;
}

static __always_inline struct net_reading read_net(struct net *net)
{
	struct net_reading r = { .active = NETNS_REFS_UNKNOWN, .passive = NETNS_REFS_UNKNOWN };
	int counter;
	long err = 0;

	err |= bpf_core_read(&r.inum, sizeof(r.inum), &net->ns.inum);
	r.cookie = read_cookie(net);
	if (!r.cookie)
		err = 1;
	if (bpf_core_read(&counter, sizeof(counter), &net->passive.refs.counter) == 0)
		r.passive = counter;
	r.active = read_active(net);
	r.readable = err == 0;
	if (!r.readable || r.active == NETNS_REFS_UNKNOWN || r.passive == NETNS_REFS_UNKNOWN)
		count(NETNS_STAT_READ_FAILED);
	return r;
}

/*
 * read_net for a pointer the verifier knows as a kernel `struct net` (an fentry or tp_btf
 * argument, or what is reached from one by plain loads): plain loads, no helper calls. A
 * NULL or faulting pointer reads zeros.
 */
static __always_inline struct net_reading read_net_btf(struct net *net)
{
	struct net_reading r = { .readable = true };
	r.cookie = cookie_btf(net);
	r.inum = net->ns.inum;
	r.passive = net->passive.refs.counter;
	if (bpf_core_field_exists(net->ns.__ns_ref))
		r.active = net->ns.__ns_ref.refs.counter;
	else if (bpf_core_field_exists(((struct net___pre618 *)net)->ns.count))
		r.active = ((struct net___pre618 *)net)->ns.count.refs.counter;
	else
		r.active = ((struct net___pre511 *)net)->count.refs.counter;
	return r;
}

static __always_inline struct net *task_net(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, net_ns);
}

/* ---- Emitting events ---------------------------------------------------------------- */

/*
 * Sends one event; returns false (and counts) when the ring buffer had no room. The acting
 * task is the current one, or `holder` when the event is about another task (discovery).
 */
static __always_inline bool emit_for(__u32 kind, __u32 source, const struct net_reading *net,
				     __s32 result, struct task_struct *holder, __u64 created_after)
{
	struct netns_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(NETNS_STAT_RINGBUF_FULL);
		return false;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->source = source;
	e->result = result;
	e->created_after_ns = created_after;
	/* Probe reads, not plain loads through BTF pointers: this is inlined at every emit,
	 * and the verifier looks each pointer load's type up by name in the kernel's BTF,
	 * which made loading the programs half a second slower. */
	struct task_struct *task = holder ? holder : (struct task_struct *)bpf_get_current_task();
	e->pid = BPF_CORE_READ(task, tgid);
	e->tid = BPF_CORE_READ(task, pid);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = BPF_CORE_READ(task, real_cred, uid.val);
	if (holder) {
		e->cgroup_id = 0;
		BPF_CORE_READ_STR_INTO(&e->comm, holder, comm);
	} else {
		e->cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
	if (net) {
		e->cookie = net->cookie;
		e->inum = net->inum;
		e->active_refs = net->active;
		e->passive_refs = net->passive;
	} else {
		e->cookie = 0;
		e->inum = 0;
		e->active_refs = NETNS_REFS_UNKNOWN;
		e->passive_refs = NETNS_REFS_UNKNOWN;
	}
	/* Waking the reader costs an interrupt (a VM exit under virtualisation: tens of µs).
	 * While events flow, the reader takes them every 100 ms and is woken only when the
	 * buffer is an eighth full. Once a poll found nothing, it sleeps until the first event
	 * after that wakes it, so that an idle host costs no periodic wake-ups. */
	__u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	bool wake = queued >= size / 8;
	__u32 zero = 0;
	__u32 *asleep = bpf_map_lookup_elem(&reader_asleep, &zero);
	if (asleep && *asleep) {
		*asleep = 0;
		wake = true;
	}
	bpf_ringbuf_submit(e, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return true;
}

static __always_inline bool emit(__u32 kind, __u32 source, const struct net_reading *net,
				 __s32 result)
{
	return emit_for(kind, source, net, result, NULL, 0);
}

/* ---- Following namespaces ----------------------------------------------------------- */

/* How to report a namespace found without seeing its creation: DISCOVERED while the agent
 * takes its first inventory, CREATED after (it was created since, unseen). */
static __always_inline __u32 found_kind(void)
{
	__u32 zero = 0;
	struct netns_config *config_slot = bpf_map_lookup_elem(&config, &zero);
	return config_slot && config_slot->baseline_done ? NETNS_EV_CREATED : NETNS_EV_DISCOVERED;
}

/* Adds a released namespace to the dying set; its batch is assigned when one starts. */
static __always_inline void join_dying(__u64 key)
{
	__u32 no_batch_yet = 0;
	if (bpf_map_update_elem(&dying, &key, &no_batch_yet, BPF_NOEXIST) != 0 &&
	    !bpf_map_lookup_elem(&dying, &key))
		count(NETNS_STAT_DYING_FULL);
}

/* Stops following a namespace whose memory is gone. */
static __always_inline void forget(__u64 key)
{
	if (bpf_map_delete_elem(&tracked, &key) == 0)
		add_atomic(&tracked_entries, -1);
	bpf_map_delete_elem(&dying, &key);
}

/*
 * Whether the namespace at `net` is the one followed at its address. The address alone does
 * not say so: it may still hold the entry of an earlier namespace whose free is not reported
 * yet (the ring buffer was full), and track_net reports that one gone when it takes the slot.
 */
static __always_inline bool is_followed(struct net *net)
{
	__u64 key = (__u64)net;
	struct tracked_net *known = bpf_map_lookup_elem(&tracked, &key);
	return known && known->cookie == read_cookie(net);
}

/* Reports a followed namespace whose creation event was lost, as found by a scan (its
 * creator unknown), before anything else about it. False if that could not be sent either. */
static __always_inline bool report_found(struct tracked_net *t, __u32 source)
{
	if (t->reported)
		return true;
	struct net_reading found = { .cookie = t->cookie, .inum = t->inum,
				     .active = t->active, .passive = t->passive, .readable = true };
	if (!emit_for(found_kind(), source, &found, 0, NULL, t->created_after_ns))
		return false;
	t->reported = 1;
	return true;
}

#define ENOMEM 12
#define EEXIST 17
#define E2BIG 7

/* Counts a failed store into `tracked`: the map full (a preallocated hash says E2BIG, one
 * allocating says ENOMEM), or anything else (a map busy on this CPU, EBUSY since 5.11 and in
 * 5.10's stable updates), which a larger map would not cure. */
static __always_inline void count_store_failure(long err)
{
	count(err == -E2BIG || err == -ENOMEM ? NETNS_STAT_TRACKED_FULL : NETNS_STAT_TRACKED_FAILED);
}

/*
 * Stores `t` at `key`, and keeps `tracked_entries` exact even when another CPU adds or removes
 * the same key meanwhile. Returns 0, or the map's error.
 */
static __always_inline long store_tracked(__u64 key, struct tracked_net *t)
{
	long err = bpf_map_update_elem(&tracked, &key, t, BPF_NOEXIST);
	if (err == 0)
		add_atomic(&tracked_entries, 1);
	else if (err == -EEXIST)   /* stored by another CPU meanwhile, or an entry not deleted */
		err = bpf_map_update_elem(&tracked, &key, t, BPF_EXIST);
	return err;
}

/*
 * Reports the release of followed namespace `t`, read as `r` with no active reference left,
 * and adds it to the dying set. False if the event could not be sent: nothing changes, and
 * the next scan retries.
 */
static __always_inline bool mark_released(__u64 key, struct tracked_net *t, const struct net_reading *r, __u32 source)
{
	if (!emit(NETNS_EV_RELEASED, source, r, 0))
		return false;
	t->state = TRACKED_RELEASED;
	t->active = 0;
	t->passive = r->passive;
	join_dying(key);
	return true;
}

/*
 * Starts following a namespace read as `r` at `key` (its address), where the map holds `known`
 * (looked up by the caller): one a creation hook saw made (`creation`: CREATED, the current
 * task its creator), or one found afterwards (`kind` CREATED, or DISCOVERED during the first
 * inventory). If the same memory held an earlier namespace that we never saw freed, that one
 * is gone: report its free first, so a reused address never hides a lifetime. One found with
 * no active reference left (a list walk's, awaiting its cleanup batch) is reported released.
 */
static __always_inline void track_reading(__u64 key, struct tracked_net *known, struct net_reading r, __u32 kind,
					  __u32 source, struct task_struct *holder, bool creation)
{
	if (known) {
		if (known->cookie == r.cookie) {
			/* Already followed. A walk may find a namespace on the list before its
			 * creation hook returns; the hook still reports it, as only it knows the
			 * creator (the agent counts the namespace once). */
			if (creation && !known->seen &&
			    emit_for(NETNS_EV_CREATED, source, &r, 0, holder, bpf_ktime_get_ns())) {
				known->seen = 1;
				known->reported = 1;
			}
			return;
		}
		struct net_reading gone = { .cookie = known->cookie, .inum = known->inum,
					    .active = 0, .passive = 0 };
		/* Its slot is taken now. One never reported lived and died while the ring buffer
		 * was full: it is counted, and the agent adds it to its totals without details.
		 * Of one reported, what cannot be sent is left to the agent's reconciliation (it
		 * sees the cookie gone from the map). */
		if (!report_found(known, source)) {
			count(NETNS_STAT_UNREPORTED);
		} else {
			if (known->state == TRACKED_ALIVE)
				emit(NETNS_EV_RELEASED, source, &gone, 0);
			emit(NETNS_EV_FREED, source, &gone, 0);
		}
		/* Its entry goes now, whether or not the new one can be stored: left behind, it
		 * would be reported gone (or counted unreported) again by every later look at this
		 * address, and it would hide its free from the agent's reconciliation. Should even
		 * the delete fail, its entry says it is gone and reported: a scan then only repeats
		 * its free, which the agent takes once. */
		known->reported = 1;
		known->gone = 1;
		forget(key);
	}
	/* Followed first: a namespace that cannot be followed is counted, not reported (its end
	 * would never be seen, and it would stay alive in the agent's eyes forever). */
	struct tracked_net t = { .cookie = r.cookie, .inum = r.inum, .state = TRACKED_ALIVE,
				 .active = r.active, .passive = r.passive, .reported = 1, .seen = creation,
				 .created_after_ns = creation ? bpf_ktime_get_ns() : list_walk_epoch };
	long err = store_tracked(key, &t);
	if (err != 0) {
		count_store_failure(err);
		return;
	}
	/* If the ring buffer is full, the scans report it later (without its creator), before
	 * anything else about it. Only then, or when it is released already, is the entry looked
	 * up again. */
	bool sent = emit_for(kind, source, &r, 0, holder, t.created_after_ns);
	if (sent && r.active != 0)
		return;
	struct tracked_net *stored = bpf_map_lookup_elem(&tracked, &key);
	if (!stored || stored->cookie != r.cookie)
		return;
	if (!sent)
		stored->reported = 0;
	else
		mark_released(key, stored, &r, source);
}

/* track_reading for a namespace found, at any pointer (read with probe reads). */
static __always_inline void track_net(struct net *net, __u32 kind, __u32 source, struct task_struct *holder)
{
	__u64 key = (__u64)net;
	track_reading(key, bpf_map_lookup_elem(&tracked, &key), read_net(net), kind, source, holder, false);
}

/*
 * Namespaces known to be followed, by address and identity: a direct-mapped cache in front of
 * `tracked` for the hooks every fork, exec and exit runs, where the answer is nearly always
 * "followed already". An array lookup is a few instructions (the verifier inlines it); the
 * hash lookup it saves is most of such a hook's cost. A slot is only a hint: it is written
 * after `tracked` said so, and it matches only while the same namespace (same identity) is
 * at that address; `tracked` drops a namespace only once it is freed, and a namespace made
 * at a freed one's address has another identity. Racing writers can tear a slot, which then
 * matches nothing.
 */
#define FOLLOWED_HINT_SLOTS 1024
struct followed_hint {
	__u64 net;
	__u64 cookie;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FOLLOWED_HINT_SLOTS);
	__type(key, __u32);
	__type(value, struct followed_hint);
} followed_hints SEC(".maps");

static __always_inline struct followed_hint *followed_hint_at(__u64 key)
{
	/* struct net is a slab object of several KiB: the low 12 bits say little. */
	__u32 slot = (__u32)((key >> 12) ^ (key >> 22)) & (FOLLOWED_HINT_SLOTS - 1);
	return bpf_map_lookup_elem(&followed_hints, &slot);
}

/* Follows `task`'s namespace if it is not followed yet: as made just now by the current task
 * (`created`: `task` is its new child), or as found (`task` is the current task, which holds
 * it but may have entered it rather than made it). `task` is a pointer the verifier knows, so
 * this costs plain loads and, when the hint above misses, one hash lookup. */
static __always_inline void notice_task_net_btf(struct task_struct *task, bool created, __u32 source)
{
	struct net *net = task->nsproxy->net_ns;   /* NULL once the task has left its namespaces */
	if (!net)
		return;
	__u64 key = (__u64)net;
	__u64 cookie = cookie_btf(net);
	struct followed_hint *hint = created ? NULL : followed_hint_at(key);
	if (hint && hint->net == key && hint->cookie == cookie)
		return;
	struct tracked_net *known = bpf_map_lookup_elem(&tracked, &key);
	if (known && known->cookie == cookie && (known->seen || !created)) {
		if (hint) {
			hint->net = key;
			hint->cookie = cookie;
		}
		return;
	}
	track_reading(key, known, read_net_btf(net), created ? NETNS_EV_CREATED : found_kind(), source, NULL, created);
}

/* notice_task_net_btf for the current task, with probe reads (no bpf_get_current_task_btf
 * before 5.11). */
static __always_inline void notice_current_net(bool created, __u32 source)
{
	struct net *net = task_net((struct task_struct *)bpf_get_current_task());
	if (!net)
		return;
	__u64 key = (__u64)net;
	struct tracked_net *known = bpf_map_lookup_elem(&tracked, &key);
	struct net_reading r = read_net(net);
	if (known && known->cookie == r.cookie && (known->seen || !created))
		return;
	track_reading(key, known, r, created ? NETNS_EV_CREATED : found_kind(), source, NULL, created);
}

/* Reports what copy_net_ns returned for a CLONE_NEWNET request: a new net, or an error. */
static __always_inline void report_copy_net_ns(struct net *result)
{
	if (is_err_ptr(result))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_COPY_NET_NS, NULL, (__s32)(long)result);
	else {
		__u64 key = (__u64)result;
		track_reading(key, bpf_map_lookup_elem(&tracked, &key), read_net(result), NETNS_EV_CREATED,
			      NETNS_SRC_COPY_NET_NS, NULL, true);
	}
}

/* Reports what setup_net returned for `net`. */
static __always_inline void report_setup_net(struct net *net, long result)
{
	struct net_reading r = read_net(net);
	emit(NETNS_EV_SETUP, NETNS_SRC_SETUP_NET, &r, (__s32)result);
}

/* Reports the release of a namespace whose last active reference is going away now. */
static __always_inline void release_net(struct net *net, __u32 source)
{
	__u64 key = (__u64)net;
	struct net_reading r = read_net(net);
	struct tracked_net *known = bpf_map_lookup_elem(&tracked, &key);

	if (known && known->cookie == r.cookie) {
		if (known->state == TRACKED_ALIVE && known->reported)
			mark_released(key, known, &r, source);   /* else a scan reports it */
		return;
	}
	/* Not followed: its creation was not seen (a kretprobe missed under load, or it was made
	 * while the inventory ran). It is followed from now on, found, and reported released with
	 * it, once: the walk of its cleanup batch's start then finds it followed and released,
	 * rather than report it found, and released, a second time. (An earlier namespace's
	 * entry at this address is reported gone first.) */
	track_reading(key, known, r, found_kind(), source, NULL, false);
}

/* What a scan is for: the start or end of a cleanup batch, or a periodic refresh. */
enum scan_purpose { SCAN_BATCH_START, SCAN_BATCH_END, SCAN_REFRESH };

struct scan_ctx {
	__u32 purpose;    /* enum scan_purpose */
	__u32 batch;      /* the batch starting or ending */
};

static __always_inline __u32 scan_source(const struct scan_ctx *ctx)
{
	return ctx->purpose == SCAN_BATCH_START ? NETNS_SRC_CLEANUP_START
	     : ctx->purpose == SCAN_BATCH_END ? NETNS_SRC_CLEANUP_END : NETNS_SRC_REFRESH;
}

/*
 * Reports the free of a followed namespace whose memory is released (passive count zero) or
 * now holds another namespace, after its release if that was never reported. Returns false
 * if an event could not be sent: the namespace stays followed and the next scan retries.
 */
static __always_inline bool report_gone(__u64 key, struct tracked_net *t, __u32 source)
{
	struct net_reading last = { .cookie = t->cookie, .inum = t->inum, .active = 0, .passive = 0 };
	/* Judged once, while the memory still read as freed: it may hold something else by the
	 * next scan ("GET " of an HTTP request was seen where the passive count was), and only
	 * the events are retried. */
	t->gone = 1;
	if (!report_found(t, source))
		return false;
	if (t->state == TRACKED_ALIVE) {
		if (!emit(NETNS_EV_RELEASED, source, &last, 0))
			return false;
		t->state = TRACKED_RELEASED;
	}
	if (!emit(NETNS_EV_FREED, source, &last, 0))
		return false;
	forget(key);
	return true;
}

/* Whether memory holds a network namespace by its type: another namespace's, or memory
 * reused since, reads as another type or not at all. */
static __always_inline bool is_net_type(struct net *net)
{
	struct ns_common *ns = &net->ns;
	int type = 0;
	if (bpf_core_field_exists(ns->ns_type)) {
		if (bpf_core_read(&type, sizeof(type), &ns->ns_type) != 0)
			return false;
	} else {
		const struct proc_ns_operations *ops = BPF_CORE_READ(ns, ops);
		if (bpf_core_read(&type, sizeof(type), &ops->type) != 0)
			return false;
	}
	return type == CLONE_NEWNET;
}

/* More passive references than any namespace holds: a reading this high is of memory that
 * was a namespace's and has been reused since it was freed. */
#define PASSIVE_REFS_PLAUSIBLE_MAX (1 << 24)

/*
 * Whether the followed namespace `t`, read as `r`, is gone: judged so already (its last
 * events not all sent yet), or its memory is released (passive count zero), unreadable, or
 * holds something else. A freed namespace's memory is soon reused, and not always by another
 * namespace (which the identity tells apart): a buffer may overwrite the passive count and
 * leave the identity as it was. So the reading must also look like this namespace still:
 * same inum, a plausible passive count, and no active reference once released (the active
 * count never rises from zero).
 */
static __always_inline bool is_gone(const struct net_reading *r, const struct tracked_net *t)
{
	return t->gone || !r->readable || r->cookie != t->cookie || r->inum != t->inum ||
	       r->passive == 0 || r->passive > PASSIVE_REFS_PLAUSIBLE_MAX ||
	       (t->state != TRACKED_ALIVE && r->active != 0);
}

/* is_gone for a namespace off the kernel's list, at `net`: its memory must still be a
 * network namespace's too (one on the list is, and is not read again). */
static __always_inline bool is_gone_unlisted(struct net *net, const struct net_reading *r, const struct tracked_net *t)
{
	return is_gone(r, t) || !is_net_type(net);
}

/*
 * One followed namespace read as `r`, at a refresh or (tracepoint set) a batch start: reports
 * its free when its memory is `gone` (is_gone, or is_gone_unlisted off the list), its release
 * when its active count reads zero, and on a refresh any change of its refcounts. State
 * changes only once the event is sent.
 */
static __always_inline void scan_one(__u64 key, struct tracked_net *t, const struct net_reading *r, __u32 purpose,
				     bool gone)
{
	__u32 source = purpose == SCAN_BATCH_START ? NETNS_SRC_CLEANUP_START : NETNS_SRC_REFRESH;

	if (gone) {
		report_gone(key, t, source);
		return;
	}
	if (!report_found(t, source))
		return;                           /* its creation first, at the next scan */
	if (t->state == TRACKED_ALIVE && r->active == 0 && !mark_released(key, t, r, source))
		return;
	if (purpose == SCAN_REFRESH && (r->active != t->active || r->passive != t->passive)) {
		if (!emit(NETNS_EV_REFS, source, r, 0))
			return;
	}
	t->active = r->active;
	t->passive = r->passive;
}

static long scan_tracked_one(struct bpf_map *map, __u64 *key, struct tracked_net *t, struct scan_ctx *ctx)
{
	struct net_reading r = read_net((struct net *)*key);
	scan_one(*key, t, &r, ctx->purpose, is_gone_unlisted((struct net *)*key, &r, t));
	return 0;
}

/*
 * A dying namespace at the end of its cleanup batch: freed, or torn down and still held by
 * passive references (a zombie now: refreshes watch for its free). Changes nothing if an
 * event cannot be sent: the next scan retries.
 */
static __always_inline void end_dying_one(__u64 key)
{
	struct tracked_net *t = bpf_map_lookup_elem(&tracked, &key);
	if (!t) {
		bpf_map_delete_elem(&dying, &key);
		return;
	}
	struct net_reading r = read_net((struct net *)key);
	if (is_gone_unlisted((struct net *)key, &r, t)) {
		report_gone(key, t, NETNS_SRC_CLEANUP_END);
		return;
	}
	if (!report_found(t, NETNS_SRC_CLEANUP_END) || !emit(NETNS_EV_TORN_DOWN, NETNS_SRC_CLEANUP_END, &r, 0))
		return;
	t->state = TRACKED_TORN_DOWN;
	bpf_map_delete_elem(&dying, &key);
}

/*
 * One dying namespace, at a batch start or end: a batch start takes every dying namespace
 * without a batch into it; its end reports those of the batch still held by passive
 * references as torn down, and frees the others.
 */
static long scan_dying_one(struct bpf_map *map, __u64 *key, __u32 *batch, struct scan_ctx *ctx)
{
	if (ctx->purpose == SCAN_BATCH_END && *batch == ctx->batch) {
		end_dying_one(*key);
		return 0;
	}
	struct tracked_net *t = bpf_map_lookup_elem(&tracked, key);
	if (!t) {
		bpf_map_delete_elem(map, key);
		return 0;
	}
	struct net_reading r = read_net((struct net *)*key);
	if (is_gone_unlisted((struct net *)*key, &r, t)) {
		report_gone(*key, t, scan_source(ctx));
		return 0;
	}
	if (ctx->purpose == SCAN_BATCH_START && *batch == 0)
		*batch = ctx->batch;
	return 0;
}

/* Scans every followed namespace (every bucket of the map, full or empty). */
static __always_inline void scan_tracked(__u32 purpose, __u32 batch)
{
	struct scan_ctx ctx = { .purpose = purpose, .batch = batch };
	bpf_for_each_map_elem(&tracked, scan_tracked_one, &ctx, 0);
}

/* Scans the dying namespaces only. */
static __always_inline void scan_dying(__u32 purpose, __u32 batch)
{
	struct scan_ctx ctx = { .purpose = purpose, .batch = batch };
	bpf_for_each_map_elem(&dying, scan_dying_one, &ctx, 0);
}

#endif /* NETNS_CORE_BPF_H */
