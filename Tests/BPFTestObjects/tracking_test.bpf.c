// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The tracking state machine of bpf/netns_track.bpf.h, driven step by step on made-up
 * namespace readings: the test writes a step into `step` and runs `run_step` with
 * BPF_PROG_TEST_RUN, then reads the events sent, the `tracked` map and the counters. No hook
 * is attached, and no kernel memory is read: what the hooks and scans would have read is
 * given.
 */
#include "netns_core.bpf.h"

enum tracking_test_op {
	OP_CREATED = 1,      /* a creation hook saw the namespace made (track_reading, creation) */
	OP_FOUND = 2,        /* a scan found it (track_reading, not a creation) */
	OP_RELEASED = 3,     /* its last active reference went (release_net's path for a followed one) */
	OP_GONE = 4,         /* a scan judged the namespace `cookie` freed (report_gone) */
	OP_FILL_EVENTS = 5,  /* events until the ring buffer is full */
};

struct tracking_test_step {
	__u64 net;       /* the namespace's address */
	__u64 cookie;
	__u32 inum;
	__s32 active;
	__s32 passive;
	__u32 op;        /* enum tracking_test_op */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tracking_test_step);
} step SEC(".maps");

SEC("raw_tp")
int run_step(void *ctx)
{
	__u32 zero = 0;
	struct tracking_test_step *s = bpf_map_lookup_elem(&step, &zero);
	if (!s)
		return 1;
	struct net *net = (struct net *)s->net;
	struct net_reading r = { .cookie = s->cookie, .inum = s->inum, .active = s->active,
				 .passive = s->passive, .readable = true };
	struct tracked_net *known = followed(r.cookie);
	switch (s->op) {
	case OP_CREATED:
		track_reading(net, known, r, NETNS_EV_CREATED, NETNS_SRC_COPY_NET_NS, NULL, true);
		break;
	case OP_FOUND:
		track_reading(net, known, r, found_kind(), NETNS_SRC_REFRESH, NULL, false);
		break;
	case OP_RELEASED:
		if (known && known->state == TRACKED_ALIVE && known->reported)
			mark_released(known, &r, NETNS_SRC_PUT_NET);
		break;
	case OP_GONE:
		if (known)
			report_gone(known, NETNS_SRC_REFRESH);
		break;
	case OP_FILL_EVENTS:
		for (int i = 0; i < 256; i++)
			if (!emit(NETNS_EV_REFS, NETNS_SRC_REFRESH, &r, 0))
				break;
		break;
	default:
		return 1;
	}
	return 0;
}
