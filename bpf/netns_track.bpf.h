/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Following namespaces: the state machine of each followed one (alive, released, torn down,
 * gone) and the scans that move it on when a hook was missed or an event could not be sent.
 */
#ifndef NETNS_TRACK_BPF_H
#define NETNS_TRACK_BPF_H

#include "netns_read.bpf.h"

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
static __always_inline void join_dying(__u64 cookie)
{
	__u32 no_batch_yet = 0;
	if (bpf_map_update_elem(&dying, &cookie, &no_batch_yet, BPF_NOEXIST) != 0 &&
	    !bpf_map_lookup_elem(&dying, &cookie))
		count(NETNS_STAT_DYING_FULL);
}

/* Stops following a namespace whose free is sent. Its identity is never another's, so a
 * second forget (two scans seeing it out at once) removes nothing else. */
static __always_inline void forget(__u64 cookie)
{
	if (bpf_map_delete_elem(&tracked, &cookie) == 0)
		add_atomic(&tracked_entries, -1);
	bpf_map_delete_elem(&dying, &cookie);
}

/* The entry of the namespace with identity `cookie`, NULL if it is not followed (or the
 * identity could not be read: zero). */
static __always_inline struct tracked_net *followed(__u64 cookie)
{
	return cookie ? bpf_map_lookup_elem(&tracked, &cookie) : NULL;
}

/* Whether the namespace at `net` is followed. */
static __always_inline bool is_followed(struct net *net)
{
	return followed(read_cookie(net)) != NULL;
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

/* Starts following `t` under its identity, counted in `tracked_entries`. Returns 0, -EEXIST
 * if another CPU started following it meanwhile, or the map's error. */
static __always_inline long store_tracked(struct tracked_net *t)
{
	__u64 cookie = t->cookie;
	long err = bpf_map_update_elem(&tracked, &cookie, t, BPF_NOEXIST);
	if (err == 0)
		add_atomic(&tracked_entries, 1);
	return err;
}

/*
 * Reports the release of followed namespace `t`, read as `r` with no active reference left,
 * and adds it to the dying set. False if the event could not be sent: nothing changes, and
 * the next scan retries.
 */
static __always_inline bool mark_released(struct tracked_net *t, const struct net_reading *r, __u32 source)
{
	if (!emit(NETNS_EV_RELEASED, source, r, 0))
		return false;
	t->state = TRACKED_RELEASED;
	t->active = 0;
	t->passive = r->passive;
	join_dying(t->cookie);
	return true;
}

/*
 * Starts following a namespace read as `r` at `net`, unless `known`, its entry in `tracked`
 * (looked up by the caller by its identity), says it is followed already: one a creation hook
 * saw made (`creation`: CREATED, the current task its creator), or one found afterwards
 * (`kind` CREATED, or DISCOVERED during the first inventory). One found with no active
 * reference left (a list walk's, awaiting its cleanup batch) is reported released. An earlier
 * namespace whose memory this one took keeps its own entry until a scan sees it out. Returns
 * whether `tracked` holds it now.
 */
static __always_inline bool track_reading(struct net *net, struct tracked_net *known, struct net_reading r, __u32 kind,
					  __u32 source, struct task_struct *holder, bool creation)
{
	if (!r.cookie)
		return false;             /* unreadable: counted (read_net) */
	if (!known) {
		/* Followed first: a namespace that cannot be followed is counted, not reported
		 * (its end would never be seen, and it would stay alive in the agent's eyes). */
		struct tracked_net t = { .cookie = r.cookie, .inum = r.inum, .state = TRACKED_ALIVE,
					 .active = r.active, .passive = r.passive, .reported = 1,
					 .seen = creation, .net = (__u64)net,
					 .created_after_ns = creation ? bpf_ktime_get_ns() : list_walk_epoch };
		long err = store_tracked(&t);
		if (err == 0) {
			/* If the ring buffer is full, the scans report it later (without its
			 * creator), before anything else about it. Only then, or when it is
			 * released already, is the entry looked up again. */
			bool sent = emit_for(kind, source, &r, 0, holder, t.created_after_ns);
			if (sent && r.active != 0)
				return true;
			struct tracked_net *stored = followed(r.cookie);
			if (!stored)
				return false;
			if (!sent)
				stored->reported = 0;
			else
				mark_released(stored, &r, source);
			return true;
		}
		if (err != -EEXIST) {
			count_store_failure(err);
			return false;
		}
		known = followed(r.cookie);   /* followed by another CPU meanwhile */
		if (!known)
			return false;             /* and seen out already */
	}
	/* Already followed. A walk may find a namespace on the list before its creation hook
	 * returns; the hook still reports it, as only it knows the creator (the agent counts the
	 * namespace once). */
	if (creation && !known->seen &&
	    emit_for(NETNS_EV_CREATED, source, &r, 0, holder, bpf_ktime_get_ns())) {
		known->seen = 1;
		known->reported = 1;
	}
	return true;
}

/* track_reading for a namespace found, at any pointer (read with probe reads). */
static __always_inline void track_net(struct net *net, __u32 kind, __u32 source, struct task_struct *holder)
{
	struct net_reading r = read_net(net);
	track_reading(net, followed(r.cookie), r, kind, source, holder, false);
}

/*
 * The address of the agent's own namespace (the host's, as a rule), 0 until `identify_own`
 * runs at load. It is alive while the agent runs, and so while these programs are attached
 * (the agent pins nothing), and the first inventory follows it: most tasks on a host are in
 * it, and their forks, execs and exits need no more than this one comparison.
 */
__u64 own_net = 0;

/*
 * Namespaces known to be followed, by address and identity: a direct-mapped cache in front of
 * `tracked` for the hooks every fork, exec and exit runs, where the answer is nearly always
 * "followed already". An array lookup is a few instructions (the verifier inlines it); the
 * hash lookup it saves is most of such a hook's cost. A slot is only a hint: it is written
 * once `tracked` holds the namespace (found there, or stored there just now by a creation
 * hook, for the new namespace's tasks), and it matches only while the same namespace (same
 * identity) is at that address; `tracked` drops a namespace only once it is freed, and a
 * namespace made at a freed one's address has another identity. Racing writers can tear a
 * slot, which then matches nothing.
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
	if (!net || (__u64)net == own_net)
		return;
	__u64 key = (__u64)net;
	__u64 cookie = cookie_btf(net);
	struct followed_hint *hint = followed_hint_at(key);
	if (!hint)
		return;                   /* never: an array's slot */
	if (!created && hint->net == key && hint->cookie == cookie)
		return;
	/* A namespace made just now is new to `tracked` but for a race with a list walk, which
	 * the store's EEXIST settles: no lookup before it. */
	struct tracked_net *known = created ? NULL : followed(cookie);
	if (known || track_reading(net, NULL, read_net_btf(net), created ? NETNS_EV_CREATED : found_kind(), source, NULL, created)) {
		/* A namespace made just now is hinted too: its tasks' exits and execs follow. */
		hint->net = key;
		hint->cookie = cookie;
	}
}

/* notice_task_net_btf for the current task, with probe reads (no bpf_get_current_task_btf
 * before 5.11). */
static __always_inline void notice_current_net(bool created, __u32 source)
{
	struct net *net = task_net((struct task_struct *)bpf_get_current_task());
	if (!net || (__u64)net == own_net)
		return;
	struct net_reading r = read_net(net);
	if (created || !followed(r.cookie))
		track_reading(net, NULL, r, created ? NETNS_EV_CREATED : found_kind(), source, NULL, created);
}

/* Reports what copy_net_ns returned for a CLONE_NEWNET request: a new net, or an error. */
static __always_inline void report_copy_net_ns(struct net *result)
{
	if (is_err_ptr(result))
		emit(NETNS_EV_CREATE_FAILED, NETNS_SRC_COPY_NET_NS, NULL, (__s32)(long)result);
	else {
		struct net_reading r = read_net(result);
		track_reading(result, NULL, r, NETNS_EV_CREATED, NETNS_SRC_COPY_NET_NS, NULL, true);
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
	struct net_reading r = read_net(net);
	struct tracked_net *known = followed(r.cookie);

	if (known) {
		if (known->state == TRACKED_ALIVE && known->reported)
			mark_released(known, &r, source);   /* else a scan reports it */
		return;
	}
	/* Not followed: its creation was not seen (a kretprobe missed under load, or it was made
	 * while the inventory ran). It is followed from now on, found, and reported released with
	 * it, once: the walk of its cleanup batch's start then finds it followed and released,
	 * rather than report it found, and released, a second time. */
	track_reading(net, NULL, r, found_kind(), source, NULL, false);
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
 * now holds another namespace, after its creation and release if those were never reported,
 * and stops following it. Returns false if an event could not be sent: the namespace stays
 * followed and the next scan retries. Never counted without its identity, so the agent takes
 * it once even if two scans see it out at once.
 */
static __always_inline bool report_gone(struct tracked_net *t, __u32 source)
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
	forget(last.cookie);
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
static __always_inline void scan_one(struct tracked_net *t, const struct net_reading *r, __u32 purpose, bool gone)
{
	__u32 source = purpose == SCAN_BATCH_START ? NETNS_SRC_CLEANUP_START : NETNS_SRC_REFRESH;

	if (gone) {
		report_gone(t, source);
		return;
	}
	if (!report_found(t, source))
		return;                           /* its creation first, at the next scan */
	if (t->state == TRACKED_ALIVE && r->active == 0 && !mark_released(t, r, source))
		return;
	if (purpose == SCAN_REFRESH && (r->active != t->active || r->passive != t->passive)) {
		if (!emit(NETNS_EV_REFS, source, r, 0))
			return;
	}
	t->active = r->active;
	t->passive = r->passive;
}

/* A followed namespace, re-read where it is (or was). */
static __always_inline void scan_followed(struct tracked_net *t, __u32 purpose)
{
	struct net *net = (struct net *)t->net;
	struct net_reading r = peek_net(net);   /* where it was: may be freed by now */
	scan_one(t, &r, purpose, is_gone_unlisted(net, &r, t));
}

static long scan_tracked_one(struct bpf_map *map, __u64 *cookie, struct tracked_net *t, struct scan_ctx *ctx)
{
	scan_followed(t, ctx->purpose);
	return 0;
}

/*
 * A dying namespace at the end of its cleanup batch: freed, or torn down and still held by
 * passive references (a zombie now: refreshes watch for its free). Changes nothing if an
 * event cannot be sent: the next scan retries.
 */
static __always_inline void end_dying_one(__u64 cookie)
{
	struct tracked_net *t = followed(cookie);
	if (!t) {
		bpf_map_delete_elem(&dying, &cookie);
		return;
	}
	struct net *net = (struct net *)t->net;
	struct net_reading r = peek_net(net);   /* where it was: may be freed by now */
	if (is_gone_unlisted(net, &r, t)) {
		report_gone(t, NETNS_SRC_CLEANUP_END);
		return;
	}
	if (!report_found(t, NETNS_SRC_CLEANUP_END) || !emit(NETNS_EV_TORN_DOWN, NETNS_SRC_CLEANUP_END, &r, 0))
		return;
	t->state = TRACKED_TORN_DOWN;
	bpf_map_delete_elem(&dying, &cookie);
}

/* A dying namespace whose batch has not ended: reported gone if its memory is. Returns
 * whether it is still dying (its entry in the dying set stays). */
static __always_inline bool watch_dying_one(__u64 cookie, __u32 source)
{
	struct tracked_net *t = followed(cookie);
	if (!t) {
		bpf_map_delete_elem(&dying, &cookie);
		return false;
	}
	struct net *net = (struct net *)t->net;
	struct net_reading r = peek_net(net);   /* where it was: may be freed by now */
	if (is_gone_unlisted(net, &r, t)) {
		report_gone(t, source);
		return false;
	}
	return true;
}

/*
 * One dying namespace, at a batch start or end: a batch start takes every dying namespace
 * without a batch into it; its end reports those of the batch still held by passive
 * references as torn down, and frees the others.
 */
static long scan_dying_one(struct bpf_map *map, __u64 *cookie, __u32 *batch, struct scan_ctx *ctx)
{
	if (ctx->purpose == SCAN_BATCH_END && *batch == ctx->batch) {
		end_dying_one(*cookie);
		return 0;
	}
	if (watch_dying_one(*cookie, scan_source(ctx)) && ctx->purpose == SCAN_BATCH_START && *batch == 0)
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

#endif /* NETNS_TRACK_BPF_H */
