/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading a namespace's identity and refcounts on any kernel from 5.10 on, and sending the
 * events that carry them.
 */
#ifndef NETNS_READ_BPF_H
#define NETNS_READ_BPF_H

#include "netns_maps.bpf.h"

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

/* Whether a reading lacks something a namespace always has. */
static __always_inline bool reading_incomplete(const struct net_reading *r)
{
	return !r->readable || r->active == NETNS_REFS_UNKNOWN || r->passive == NETNS_REFS_UNKNOWN;
}

/*
 * Reads what may or may not still be a namespace, counting nothing: the scans re-read where a
 * followed namespace was, and by then its memory may be freed, unreadable, or zeroed for
 * another namespace being made there. A failed reading then only says it is gone (is_gone),
 * not that the kernel could not be read.
 */
static __always_inline struct net_reading peek_net(struct net *net)
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
	return r;
}

/* Reads a namespace the kernel hands a hook or a list walk, which is one: a failed or
 * incomplete reading is counted (`read_failed`). */
static __always_inline struct net_reading read_net(struct net *net)
{
	struct net_reading r = peek_net(net);
	if (reading_incomplete(&r))
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
	 * which made loading the programs half a second slower. The current task's ids come
	 * from helpers, two calls for four reads on the creation path. */
	struct task_struct *task = holder ? holder : (struct task_struct *)bpf_get_current_task();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (holder) {
		e->pid = BPF_CORE_READ(holder, tgid);
		e->tid = BPF_CORE_READ(holder, pid);
		e->uid = BPF_CORE_READ(holder, real_cred, uid.val);
		e->cgroup_id = 0;
		BPF_CORE_READ_STR_INTO(&e->comm, holder, comm);
	} else {
		__u64 ids = bpf_get_current_pid_tgid();
		e->pid = ids >> 32;
		e->tid = (__u32)ids;
		/* Its credentials: its real ones, but for a moment of override_creds. */
		e->uid = (__u32)bpf_get_current_uid_gid();
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

#endif /* NETNS_READ_BPF_H */
