/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of what crosses the ring buffer from the kernel to the agent.
 *
 * The BPF programs include this file, and Swift imports it through the `CNetnsEvent` module,
 * so neither side restates the layout. Every field has a fixed width and the struct has no
 * implicit padding: it is also the record format of files written by `netns-tracer record`.
 * Change it only together with NETNS_EVENT_VERSION.
 */
#ifndef NETNS_EVENT_H
#define NETNS_EVENT_H

#include <linux/types.h>

#define NETNS_EVENT_VERSION 3
#define NETNS_COMM_LEN 16

/* What happened. Values are part of the recorded-file format: append, never renumber. */
enum netns_event_kind {
	/* A network namespace was created. Its creation was seen (the task is its creator) when
	 * `source` is a creation hook: copy_net_ns, unshare, clone or fork; otherwise it was
	 * found afterwards, by a walk of the kernel's namespace list, a cleanup batch, or as the
	 * namespace of a task at its exec, exit or fork (the task then holds it, but may not
	 * have made it), and `created_after_ns` bounds its creation. `result` is 0. */
	NETNS_EV_CREATED = 1,
	/* Creating one failed; `result` is the negative errno, the net fields are zero. */
	NETNS_EV_CREATE_FAILED = 2,
	/* setup_net returned `result` for this net (fentry and kprobe sets only). */
	NETNS_EV_SETUP = 3,
	/* The last active reference was dropped (__put_net): teardown is queued. */
	NETNS_EV_RELEASED = 4,
	/* The passive count reached zero: the struct net's memory is released. */
	NETNS_EV_FREED = 5,
	/* A namespace that existed before the agent started, found by the discovery pass;
	 * the pid and comm are those of a task or file holder where one was seen. */
	NETNS_EV_DISCOVERED = 6,
	/* A periodic reading of a tracked namespace's refcounts, sent only when they changed. */
	NETNS_EV_REFS = 7,
	/* A cleanup_net batch started or ended on the netns workqueue (no net fields). */
	NETNS_EV_CLEANUP_START = 8,
	NETNS_EV_CLEANUP_END = 9,
	/* Its cleanup_net batch ended, but passive references still hold its memory (it is
	 * freed when they go: until then, a zombie). */
	NETNS_EV_TORN_DOWN = 10,
};

/* Which kernel hook produced the event (the `source` field). */
enum netns_event_source {
	NETNS_SRC_UNKNOWN = 0,
	NETNS_SRC_COPY_NET_NS = 1,
	NETNS_SRC_SETUP_NET = 2,
	NETNS_SRC_PUT_NET = 3,
	NETNS_SRC_UNSHARE = 4,
	NETNS_SRC_FORK = 5,
	NETNS_SRC_CLONE = 6,
	NETNS_SRC_CLEANUP_START = 7,
	NETNS_SRC_CLEANUP_END = 8,
	NETNS_SRC_REFRESH = 9,
	NETNS_SRC_DISCOVERY_TASK = 10,
	NETNS_SRC_DISCOVERY_FILE = 11,
	/* 12 is retired (no hook reports it); values are never reused. */
	NETNS_SRC_DISCOVERY_LIST = 13,   /* found only on the kernel's namespace list */
	NETNS_SRC_EXEC = 14,             /* first seen as the namespace of a task at exec */
	NETNS_SRC_EXIT = 15,             /* first seen as the namespace of a task at exit */
	/* Not from a hook: the agent saw events lost, compared its namespaces with the kernel
	 * side's `tracked` map, and reports the release and free of those no longer followed. */
	NETNS_SRC_RECONCILE = 16,
	NETNS_SRC_FORK_PARENT = 17,      /* first seen as the namespace of a task as it forked */
	/* Not from a hook: at start-up, a namespace the list walk found (13) that listns(2) had
	 * listed as active, though no task, file or reachable bind mount showed it: the agent
	 * marks the walk's event so (held by a file or mount the agent cannot reach). */
	NETNS_SRC_DISCOVERY_LISTNS = 18,
};

/* Refcount value meaning "could not be read". */
#define NETNS_REFS_UNKNOWN (-1)

struct netns_event {
	__u64 timestamp_ns;   /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 cookie;         /* net_cookie: unique per boot, the namespace's identity */
	__u64 cgroup_id;      /* cgroup v2 id of the acting task, 0 if none */
	__u32 kind;           /* enum netns_event_kind */
	__u32 inum;           /* ns.inum as /proc/PID/ns/net shows it (reused after free) */
	__s32 active_refs;    /* ns.count / ns.__ns_ref, or NETNS_REFS_UNKNOWN */
	__s32 passive_refs;   /* passive, or NETNS_REFS_UNKNOWN */
	__u32 pid;            /* tgid of the acting task */
	__u32 tid;            /* thread id of the acting task */
	__s32 result;         /* 0 or a negative errno, where the hook has one */
	__u32 source;         /* enum netns_event_source */
	__u32 uid;            /* real uid of the acting task */
	__u32 ppid;           /* tgid of the acting task's parent */
	char comm[NETNS_COMM_LEN];
	/* CREATED and DISCOVERED: the earliest the namespace can have been created. For a
	 * creation seen by its hook, the moment the hook saw it. For one found afterwards, the
	 * start of the last complete walk of the namespace list that did not show it (the kernel
	 * appends a namespace to the list as its setup ends), or 0 if no walk had completed yet. */
	__u64 created_after_ns;
};

/* How a task holds a namespace (the `kind` of a holder record). */
enum netns_holder_kind {
	NETNS_HOLDER_TASK = 1,     /* the task's network namespace */
	NETNS_HOLDER_FD = 2,       /* an open nsfs file (e.g. /proc/PID/ns/net, /run/netns/NAME) */
	NETNS_HOLDER_SOCKET = 3,   /* an open socket that lives in the namespace */
};

/*
 * One holder of one namespace, written by the discovery iterators to their seq_file (read by
 * the agent, not sent on the ring buffer). Namespaces of the agent's own (host) namespace are
 * left out: it always has holders.
 */
struct netns_holder {
	__u64 cookie;
	__u32 inum;
	__u32 kind;           /* enum netns_holder_kind */
	__u32 pid;            /* tgid of the holding task */
	__s32 fd;             /* the descriptor for FD and SOCKET holders, -1 for TASK */
	char comm[NETNS_COMM_LEN];
};

/* Settings the agent writes into the `config` array (slot 0) after load. */
struct netns_config {
	__u64 host_cookie;    /* the agent's own namespace: its holders are not reported */
	__u32 baseline_done;  /* set after the first discovery pass: any namespace not followed
			       * yet was created since, and is reported CREATED, not DISCOVERED */
	__u32 reserved;
};

/* What the kernel side remembers of a namespace it follows (the `tracked` map, keyed by its
 * identity, the cookie). The agent reads it back to reconcile after lost events. */
enum netns_tracked_state {
	NETNS_TRACKED_ALIVE = 0,
	NETNS_TRACKED_RELEASED = 1,
	NETNS_TRACKED_TORN_DOWN = 2,
};

struct netns_tracked {
	__u64 cookie;
	__u32 inum;
	__u32 state;      /* enum netns_tracked_state */
	__s32 active;     /* last refcounts reported, to send REFS only on change */
	__s32 passive;
	__u32 reported;   /* 1 once its CREATED or DISCOVERED event was sent (scans retry it) */
	__u32 seen;       /* 1 once a creation hook reported it (it names the creator) */
	__u32 gone;       /* 1 once its memory was seen freed: only its last events remain to send */
	__u64 created_after_ns;   /* as in its CREATED event */
	__u64 net;        /* its `struct net *`, where scans read it (another's, once it is freed) */
};

/*
 * Every failure the BPF programs count, one slot each of the per-CPU `stats` array:
 * X(NAME, slot, "name", is_error). The agent reads every slot; the name is the `reason` label
 * of netns_tracer_bpf_errors_total for an error, and the subject of a metric of its own
 * otherwise. The one list: the enum below, the agent's counters and labels come from it.
 */
#define NETNS_STATS(X) \
	X(RINGBUF_FULL,   0, "ringbuf_full",       0) /* an event was dropped: ring buffer full */ \
	X(TRACKED_FULL,   1, "tracked_map_full",   1) /* a namespace not tracked: map full */ \
	X(PENDING_FULL,   2, "pending_map_full",   1) /* a syscall not followed: map full */ \
	X(READ_FAILED,    3, "read_failed",        1) /* a kernel read failed (reported unknown) */ \
	X(DYING_FULL,     4, "dying_set_full",     1) /* a released namespace not in the dying set */ \
	X(UNREPORTED,     5, "unreported",         0) /* no longer counted: every namespace is reported */ \
	X(TRACKED_FAILED, 6, "tracked_map_failed", 1) /* a namespace not tracked: another map error */

enum netns_stat {
#define NETNS_STAT_SLOT(name, slot, label, is_error) NETNS_STAT_##name = slot,
	NETNS_STATS(NETNS_STAT_SLOT)
#undef NETNS_STAT_SLOT
	NETNS_STAT_MAX = 7,
};

/* The name of a slot of `stats`, or 0 past the last. (For the agent: a BPF object compiles
 * no unused function.) */
static inline const char *netns_stat_name(unsigned int slot)
{
	switch (slot) {
#define NETNS_STAT_NAME(name, slot, label, is_error) case slot: return label;
	NETNS_STATS(NETNS_STAT_NAME)
#undef NETNS_STAT_NAME
	}
	return 0;
}

/* Whether a slot of `stats` counts an error (a `reason` of netns_tracer_bpf_errors_total). */
static inline int netns_stat_is_error(unsigned int slot)
{
	switch (slot) {
#define NETNS_STAT_ERROR(name, slot, label, is_error) case slot: return is_error;
	NETNS_STATS(NETNS_STAT_ERROR)
#undef NETNS_STAT_ERROR
	}
	return 0;
}

#endif /* NETNS_EVENT_H */
