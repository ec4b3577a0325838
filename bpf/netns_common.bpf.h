/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Programs every probe set carries, whatever it hooks for creation and release:
 *  - the start and end of each cleanup_net batch on the netns workqueue, where released
 *    namespaces are found (active count zero) and freed ones too (passive count zero);
 *  - `refresh` and `refresh_full`, run by the agent every few seconds (BPF_PROG_TEST_RUN) to
 *    re-read refcounts;
 *  - two iterators for the discovery pass: namespaces of every task, and those held through
 *    a file (an nsfs file such as a bind mount the agent opened, or a socket).
 * Included once, by netns.bpf.c, before the hooks of each probe set.
 */
#ifndef NETNS_COMMON_BPF_H
#define NETNS_COMMON_BPF_H

#include "netns_core.bpf.h"

extern const void cleanup_net __ksym __weak;

static __always_inline bool is_cleanup_net(const void *func)
{
	return &cleanup_net && func == &cleanup_net;
}

/*
 * The namespaces of the cleanup batch running now, as its start found them on the namespace
 * list: its end looks at these only. Batches run one at a time (netns_wq has one thread), so
 * the list needs no lock. A batch larger than the list, or a start that could not walk the
 * namespace list, leaves `batch_listed` false and its end scans the whole dying set.
 */
#define BATCH_LIST_MAX 1024
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BATCH_LIST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} batch_members SEC(".maps");

__u32 batch_size = 0;
bool batch_listed = false;
/* The last batch seen to end. */
__u32 ended_batch = 0;

/* Records the namespace `cookie` as a member of the running batch (in `dying`, and in the
 * list for its end). */
static __always_inline void enlist(__u64 cookie, __u32 batch)
{
	__u32 slot = batch_size;
	__u64 *member = bpf_map_lookup_elem(&batch_members, &slot);
	if (bpf_map_update_elem(&dying, &cookie, &batch, BPF_ANY) != 0) {
		count(NETNS_STAT_DYING_FULL);
		return;
	}
	if (!member) {
		batch_listed = false;    /* too many: the end scans the dying set */
		return;
	}
	*member = cookie;
	batch_size = slot + 1;
}

/* A walk around the kernel's namespace list, from `start` back to it. */
struct list_walk {
	struct list_head *start;
	struct list_head *node;
	__u64 began;      /* when it began (CLOCK_MONOTONIC) */
	bool complete;    /* it came back to `start`: it saw the whole list */
};

static __always_inline struct list_walk walk_from(struct list_head *start)
{
	struct list_walk walk = { .start = start, .node = start, .began = bpf_ktime_get_ns() };
	return walk;
}

/* The next entry of the walk (the list's head included: not a namespace), NULL at the end. */
static __always_inline struct net *walk_next(struct list_walk *walk)
{
	struct list_head *node = walk->node;
	struct list_head *next = BPF_CORE_READ(node, next);
	if (next == walk->start)
		walk->complete = true;
	if (!next || next == walk->start)
		return NULL;
	walk->node = next;
	return (struct net *)((char *)next - bpf_core_field_offset(struct net, list));
}

/* Records a finished walk: if it saw the whole list, nothing made before it began is still
 * unfollowed (see `list_walk_epoch`). */
static __always_inline void walk_finished(const struct list_walk *walk)
{
	if (walk->complete && walk->began > list_walk_epoch)
		list_walk_epoch = walk->began;
}

/* Whether memory on the namespace list is a struct net (the list's head is not). */
static __always_inline bool is_net(struct net *net)
{
	return is_net_type(net) && read_cookie(net) != 0;
}

enum listed_visit { VISIT_RELEASE, VISIT_REFRESH };
__noinline int visit_listed(__u64 net, __u32 visit, __u32 batch);   /* below */

struct release_walk {
	struct list_walk list;
	__u32 batch;
};

/*
 * One namespace on the list at a batch start. One not followed yet was made since the last
 * walk without any hook seeing it (an unshare in a long-lived process, a thread's namespace
 * pinned by a bind mount): it is followed from now on, found by this batch. Then, with its
 * active count at zero, it is in this batch: reported released if that is news, and
 * enlisted. Following every namespace here, alive ones too, matters: one released after the
 * walk passes it joins this batch unseen, and the kernel unlists it; followed, it is still
 * found (the refresh's count of followed namespaces on the list comes up short).
 */
static __always_inline void release_listed(struct net *net, __u32 batch)
{
	__u64 cookie = read_cookie(net);
	struct tracked_net *t = followed(cookie);
	__s32 active = read_active(net);
	if (!t) {
		if (!is_net(net))
			return;                   /* the list's head */
		track_net(net, found_kind(), NETNS_SRC_CLEANUP_START, NULL);
		t = followed(cookie);
		if (!t)
			return;                   /* not followed: counted */
	}
	if (active != 0 || t->state == TRACKED_TORN_DOWN)
		return;
	if (t->state == TRACKED_ALIVE) {
		struct net_reading r = read_net(net);
		if (r.cookie != cookie || r.active != 0 || !report_found(t, NETNS_SRC_CLEANUP_START) ||
		    !mark_released(t, &r, NETNS_SRC_CLEANUP_START))
			return;                   /* the next scan retries */
	}
	enlist(cookie, batch);
}

static long release_step(__u64 index, struct release_walk *walk)
{
	struct net *net = walk_next(&walk->list);
	if (!net)
		return 1;
	visit_listed((__u64)net, VISIT_RELEASE, walk->batch);
	return 0;
}

/* Member `slot` of the batch ending: freed, or torn down and held by passive references. */
static __always_inline long end_member(__u32 slot, __u32 batch)
{
	__u64 *member = bpf_map_lookup_elem(&batch_members, &slot);
	if (!member)
		return 1;
	__u64 cookie = *member;
	__u32 *member_batch = bpf_map_lookup_elem(&dying, &cookie);
	if (member_batch && *member_batch == batch)
		end_dying_one(cookie);
	return 0;
}

static long batch_end_step(__u64 index, __u32 *batch)
{
	return end_member(index, *batch);
}

/* The number of the batch starting now. Batches run one at a time (netns_wq has one
 * thread), so a plain increment is exact, and needs no atomic fetch (kernel 5.12+). */
static __always_inline __u32 next_batch(void)
{
	cleanup_batch += 1;
	return cleanup_batch;
}

SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(cleanup_batch_start, struct work_struct *work)
{
	if (!is_cleanup_net(BPF_CORE_READ(work, func)))
		return 0;
	__u32 batch = next_batch();
	emit(NETNS_EV_CLEANUP_START, NETNS_SRC_CLEANUP_START, NULL, 0);
	/* The batch about to run holds exactly the namespaces whose active count now reads
	 * zero, still on the namespace list until it unlists them. Without a __put_net hook
	 * (tracepoint set) this is how releases are found; with one, it catches a release whose
	 * hook did not run (a recursion miss, a kretprobe instance shortage), so no lifetime
	 * waits for the next refresh. The list is walked from init_net (the namespace of every
	 * kworker, this one included), so the cost follows the namespaces the host has, not the
	 * size of the maps; only if that cannot be read are the maps scanned whole. */
	batch_size = 0;
	struct net *host = task_net((struct task_struct *)bpf_get_current_task());
	batch_listed = host != NULL;
	if (host) {
		struct release_walk walk = { .list = walk_from(&host->list), .batch = batch };
		bpf_loop(1 << 20, release_step, &walk, 0);
		walk_finished(&walk.list);
	} else {
		scan_tracked(SCAN_BATCH_START, batch);
		scan_dying(SCAN_BATCH_START, batch);
	}
	return 0;
}

SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(cleanup_batch_end, struct work_struct *work, void *function)
{
	if (!is_cleanup_net(function))
		return 0;
	/* The batch dropped its passive references: freed namespaces now read zero, and
	 * those still held are torn down but pinned. */
	__u32 batch = cleanup_batch;
	if (batch_listed)
		bpf_loop(batch_size, batch_end_step, &batch, 0);
	else
		scan_dying(SCAN_BATCH_END, batch);
	batch_listed = false;
	ended_batch = batch;
	emit(NETNS_EV_CLEANUP_END, NETNS_SRC_CLEANUP_END, NULL, 0);
	return 0;
}

/*
 * A walk around the namespace list from the current task's namespace (the agent's own, alive
 * while it runs a refresh), back to it: every other namespace on the list, and the list's
 * head (not a namespace: no map has it, and `is_net` says so). NULL `start` if the task has
 * none. (`net_namespace_list` and `init_net` are data symbols: kallsyms lists them only with
 * CONFIG_KALLSYMS_ALL, which Debian's kernels and this one do not set.)
 */
static __always_inline struct list_walk walk_from_own_namespace(void)
{
	struct net *own = task_net((struct task_struct *)bpf_get_current_task());
	return walk_from(own ? &own->list : NULL);
}

/* The namespace a walk started from. */
static __always_inline struct net *walk_origin(const struct list_walk *walk)
{
	return (struct net *)((char *)walk->start - bpf_core_field_offset(struct net, list));
}

/* Follows `net` (as found, creator unknown) if it is not followed yet. */
static __always_inline void follow_if_new(struct net *net)
{
	if (!is_followed(net) && is_net(net))
		track_net(net, found_kind(), NETNS_SRC_DISCOVERY_LIST, NULL);
}

static long walk_step(__u64 index, struct list_walk *walk)
{
	struct net *net = walk_next(walk);
	if (!net)
		return 1;
	follow_if_new(net);
	return 0;
}

/* Re-reads `net`, a namespace on the list, if it is followed; follows it if not yet.
 * Returns whether it is followed now. */
static __always_inline bool refresh_listed(struct net *net)
{
	__u64 cookie = read_cookie(net);
	struct tracked_net *t = followed(cookie);
	if (t) {
		struct net_reading r = read_net(net);
		if (r.cookie == cookie) {
			bool gone = is_gone(&r, t);   /* then scan_one forgets it (or fails to: then the */
			scan_one(t, &r, SCAN_REFRESH, gone);   /* count is off, and the map is scanned) */
			return !gone;
		}
	}
	if (!is_net(net))
		return false;
	/* Not followed yet. */
	track_net(net, found_kind(), NETNS_SRC_DISCOVERY_LIST, NULL);
	return is_followed(net);
}

/*
 * One namespace on the list (`net`, at any address), for a batch start or a refresh: returns
 * whether a refresh left it followed (0 for a batch start). A global function, so the
 * verifier checks its body once, not at every walk that calls it: as a bpf_loop callback's
 * inlined body it was most of the start-up's verification (a walk at a batch start verified
 * 102,438 instructions in 0.22 s on 6.18).
 */
__noinline int visit_listed(__u64 net, __u32 visit, __u32 batch)
{
	if (visit == VISIT_RELEASE) {
		release_listed((struct net *)net, batch);
		return 0;
	}
	return refresh_listed((struct net *)net);
}

struct refresh_walk {
	struct list_walk list;
	__s64 followed;   /* namespaces on the list followed after the visit */
};

static long refresh_step(__u64 index, struct refresh_walk *walk)
{
	struct net *net = walk_next(&walk->list);
	if (!net)
		return 1;
	if (visit_listed((__u64)net, VISIT_REFRESH, 0))
		walk->followed += 1;
	return 0;
}

/* Scans every followed namespace, then follows any namespace on the list not followed yet. */
static __always_inline void refresh_everything(void)
{
	scan_tracked(SCAN_REFRESH, 0);
	struct list_walk walk = walk_from_own_namespace();
	if (!walk.start)
		return;
	follow_if_new(walk_origin(&walk));
	bpf_loop(1 << 20, walk_step, &walk, 0);
	walk_finished(&walk);
}

/*
 * Not attached: the agent runs it on demand, every few seconds (BPF_PROG_TEST_RUN).
 * Re-reads the refcounts of every namespace on the kernel's list and follows those pinned
 * only inside the kernel, which no task, file or mount shows: its cost follows the
 * namespaces the host has, not the size of the maps. Released namespaces stay on the list
 * until their cleanup batch, whose hooks see them out. If the map holds more namespaces than
 * the list showed (zombies, a batch running or stuck, anything a hook missed), or the batch
 * hooks are not there, the whole map is scanned.
 */
SEC("raw_tp")
int refresh(void *ctx)
{
	struct refresh_walk walk = { .list = walk_from_own_namespace() };
	if (!walk.list.start || !&cleanup_net) {
		refresh_everything();
		return 0;
	}
	if (visit_listed((__u64)walk_origin(&walk.list), VISIT_REFRESH, 0))
		walk.followed += 1;
	bpf_loop(1 << 20, refresh_step, &walk, 0);
	walk_finished(&walk.list);
	/* A cleanup batch running holds followed namespaces the kernel unlists as it starts:
	 * those of its members it listed (all of them, or `batch_listed` is false) are not
	 * missing. At maximum churn a batch nearly always runs, and without this every refresh
	 * scanned all of `tracked`. (A member the walk still found is counted twice, which can
	 * hide as many missing ones until a later refresh or the agent's full refresh.) */
	__s64 unlisted = batch_listed ? batch_size : 0;
	if (walk.followed + unlisted < tracked_entries)
		scan_tracked(SCAN_REFRESH, 0);
	return 0;
}

/*
 * Not attached: `refresh`, scanning every followed namespace whatever the list showed. The
 * agent runs it now and then instead, a safety net under the counting above.
 */
SEC("raw_tp")
int refresh_full(void *ctx)
{
	refresh_everything();
	return 0;
}

/*
 * Not attached: run once by the agent at load to learn the identity of its own namespace
 * (the host's), as the kernel side reads it on this kernel. SO_NETNS_COOKIE says the same
 * from 5.14 on, but before 5.12 the identity is not a cookie the kernel hands out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} own_namespace SEC(".maps");

SEC("raw_tp")
int identify_own(void *ctx)
{
	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&own_namespace, &zero);
	struct net *own = task_net((struct task_struct *)bpf_get_current_task());
	if (slot && own)
		*slot = read_cookie(own);
	own_net = (__u64)own;
	return 0;
}

/* ---- Kernels without bpf_loop (before 5.17) ------------------------------------------------
 *
 * The programs above walk the namespace list with bpf_loop and scan maps with
 * bpf_for_each_map_elem (5.13). Where bpf_loop is missing, the agent loads the `_bounded`
 * programs below instead (and every other program the same):
 *  - walks are bounded loops of global functions, each verified once rather than at every
 *    step: WALK_CHUNKS chunks of WALK_CHUNK namespaces, so a walk sees at most
 *    NETNS_WALK_LIMIT namespaces (past that it is incomplete, and says so: walk_finished);
 *  - a batch end looks at the batch's listed members only (at most BATCH_LIST_MAX);
 *  - map scans are map-element iterators (5.9) that the agent runs after each refresh: every
 *    followed namespace is re-read, and dying ones whose batch has ended are seen out there.
 */
#define WALK_CHUNK 32
#define WALK_CHUNKS 1024
#define NETNS_WALK_LIMIT (WALK_CHUNK * WALK_CHUNKS)

/* The same, for the agent to read (ProgramVariants.boundedWalkLimit must agree). It also gives
 * the object's .rodata (the compiler's constant initialisers) a variable: kernels before 5.13
 * refuse BTF with an empty data section, and the programs then load without it, their global
 * functions verified inline at every call, far past the verifier's limits. */
const volatile __u32 netns_walk_limit = NETNS_WALK_LIMIT;

/* Up to WALK_CHUNK steps of a walk, from `node`: returns the node reached, `start` if the
 * walk came back to it (complete), or 0 if the list could not be read. */
__noinline long walk_chunk(__u64 node, __u64 start, __u32 visit, __u32 batch)
{
	for (int i = 0; i < WALK_CHUNK; i++) {
		struct list_head *next = BPF_CORE_READ((struct list_head *)node, next);
		if (!next)
			return 0;
		if ((__u64)next == start)
			return start;
		node = (__u64)next;
		visit_listed(node - bpf_core_field_offset(struct net, list), visit, batch);
	}
	return node;
}

/* Walks the list from `walk`'s start, visiting each namespace on it. */
static __always_inline void walk_bounded(struct list_walk *walk, __u32 visit, __u32 batch)
{
	__u64 node = (__u64)walk->node, start = (__u64)walk->start;
	for (int i = 0; i < WALK_CHUNKS && node; i++) {
		node = walk_chunk(node, start, visit, batch);
		if (node == start) {
			walk->complete = true;
			return;
		}
	}
}

__noinline int end_member_bounded(__u32 slot, __u32 batch)
{
	return end_member(slot, batch);
}

SEC("raw_tp/workqueue_execute_start")
int BPF_PROG(cleanup_batch_start_bounded, struct work_struct *work)
{
	if (!is_cleanup_net(BPF_CORE_READ(work, func)))
		return 0;
	__u32 batch = next_batch();
	emit(NETNS_EV_CLEANUP_START, NETNS_SRC_CLEANUP_START, NULL, 0);
	batch_size = 0;
	struct net *host = task_net((struct task_struct *)bpf_get_current_task());
	batch_listed = host != NULL;
	if (host) {
		struct list_walk walk = walk_from(&host->list);
		walk_bounded(&walk, VISIT_RELEASE, batch);
		walk_finished(&walk);
	}
	return 0;
}

SEC("raw_tp/workqueue_execute_end")
int BPF_PROG(cleanup_batch_end_bounded, struct work_struct *work, void *function)
{
	if (!is_cleanup_net(function))
		return 0;
	__u32 batch = cleanup_batch;
	if (batch_listed) {
		for (__u32 slot = 0; slot < BATCH_LIST_MAX && slot < batch_size; slot++)
			end_member_bounded(slot, batch);
	}
	batch_listed = false;
	ended_batch = batch;
	emit(NETNS_EV_CLEANUP_END, NETNS_SRC_CLEANUP_END, NULL, 0);
	return 0;
}

/* `refresh` where bpf_loop is missing: re-reads and follows what the list shows. The agent
 * then runs both map iterators below, so nothing depends on the walk being complete. */
SEC("raw_tp")
int refresh_bounded(void *ctx)
{
	struct list_walk walk = walk_from_own_namespace();
	if (!walk.start)
		return 0;
	refresh_listed(walk_origin(&walk));
	walk_bounded(&walk, VISIT_REFRESH, 0);
	walk_finished(&walk);
	return 0;
}

/* Every followed namespace, re-read (what scan_tracked does with bpf_for_each_map_elem). */
SEC("iter/bpf_map_elem")
int scan_tracked_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	struct tracked_net *t = ctx->value;
	if (t)
		scan_followed(t, SCAN_REFRESH);
	return 0;
}

/* Every dying namespace: seen out if its batch has ended (a batch too large to list, or
 * one whose end could not report it), reported gone if its memory is. */
SEC("iter/bpf_map_elem")
int scan_dying_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	__u64 *key = ctx->key;
	__u32 *batch = ctx->value;
	if (!key || !batch)
		return 0;
	__u64 cookie = *key;
	if (*batch != 0 && *batch <= ended_batch)
		end_dying_one(cookie);
	else
		watch_dying_one(cookie, NETNS_SRC_REFRESH);
	return 0;
}

/*
 * Writes one holder record to the iterator's output, unless the namespace is the agent's
 * own (the host's, which always has holders).
 */
static __always_inline void write_holder(struct bpf_iter_meta *meta, struct net *net,
					 struct task_struct *task, __u32 kind, __s32 fd)
{
	__u32 zero = 0;
	struct netns_config *config_slot = bpf_map_lookup_elem(&config, &zero);
	struct netns_holder holder = { .kind = kind, .fd = fd };

	holder.cookie = read_cookie(net);
	if (config_slot && holder.cookie == config_slot->host_cookie)
		return;
	holder.inum = BPF_CORE_READ(net, ns.inum);
	holder.pid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&holder.comm, task, comm);
	bpf_seq_write(meta->seq, &holder, sizeof(holder));
}

/* Every task's namespace: tracked if new (DISCOVERED), and reported as a TASK holder. */
SEC("iter/task")
int discover_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	struct net *net = task_net(task);
	if (!net)
		return 0;            /* an exiting task has no nsproxy */
	if (!is_followed(net))
		track_net(net, found_kind(), NETNS_SRC_DISCOVERY_TASK, task);
	write_holder(ctx->meta, net, task, NETNS_HOLDER_TASK, -1);
	return 0;
}

/* The namespace a file holds: an nsfs file of a network namespace, or a socket's. */
static __always_inline struct net *file_net(struct file *file, __u32 *kind)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	unsigned short mode = BPF_CORE_READ(inode, i_mode);

	if ((mode & S_IFMT) == S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(file, private_data);
		*kind = NETNS_HOLDER_SOCKET;
		return BPF_CORE_READ(sock, sk, __sk_common.skc_net.net);
	}
	if (BPF_CORE_READ(inode, i_sb, s_magic) != NSFS_MAGIC)
		return NULL;
	struct ns_common *ns = BPF_CORE_READ(inode, i_private);
	int type = 0;
	if (bpf_core_field_exists(ns->ns_type)) {
		bpf_core_read(&type, sizeof(type), &ns->ns_type);
	} else {
		const struct proc_ns_operations *ops = BPF_CORE_READ(ns, ops);
		bpf_core_read(&type, sizeof(type), &ops->type);
	}
	if (type != CLONE_NEWNET)
		return NULL;
	*kind = NETNS_HOLDER_FD;
	return (struct net *)((char *)ns - bpf_core_field_offset(struct net, ns));
}

/* Every open file that holds a namespace: tracked if new, and reported as an FD or SOCKET
 * holder. The agent's own descriptors on bind mounts make mount-pinned namespaces visible. */
SEC("iter/task_file")
int discover_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	if (!file || !task)
		return 0;
	__u32 kind = 0;
	struct net *net = file_net(file, &kind);
	if (!net)
		return 0;
	if (!is_followed(net))
		track_net(net, found_kind(), NETNS_SRC_DISCOVERY_FILE, task);
	write_holder(ctx->meta, net, task, kind, (__s32)ctx->fd);
	return 0;
}

#endif /* NETNS_COMMON_BPF_H */
