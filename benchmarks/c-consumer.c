// A plain C consumer of the agent's ring-buffer records, doing the same bookkeeping as the
// Swift aggregator, as a yardstick for it: per-cookie records in an open-addressing table
// (created, discovered, released as the earliest release seen, freed, refcounts by newest
// reading), counts by kind and by state, the lifetime and cleanup-batch histograms, and a
// bounded history of freed namespaces (the oldest evicted from the table).
// Usage: c-consumer FILE  -> prints events per second (best of 5).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../bpf/netns_event.h"

enum state { NONE, ALIVE, DYING, FREED };

struct record {
	uint64_t cookie;
	uint64_t created, discovered, released, freed, torn_down, refs_at;
	uint32_t inum;
	int32_t active, passive;
	uint32_t creator_pid;
	char creator_comm[16];
};

static const double bounds[] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 604800 };
#define BOUNDS (sizeof(bounds) / sizeof(bounds[0]))
#define HISTORY 1024

static struct record *table;
static size_t mask;
static uint64_t kinds[16], state_counts[4], lifetime_buckets[BOUNDS + 1], cleanup_buckets[BOUNDS + 1];
static uint64_t created, released, freed, discovered, invalid, evictions, batches;
static double lifetime_sum, cleanup_sum;
static uint64_t history[HISTORY];
static size_t history_head, history_count;
static uint64_t cleanup_started;

static size_t slot_of(uint64_t cookie)
{
	size_t h = (cookie * 0x9E3779B97F4A7C15ull) & mask;
	while (table[h].cookie != 0 && table[h].cookie != cookie) h = (h + 1) & mask;
	return h;
}

static void erase(uint64_t cookie)
{
	size_t h = slot_of(cookie);
	if (table[h].cookie == 0) return;
	table[h].cookie = 0;
	for (size_t j = (h + 1) & mask; table[j].cookie != 0; j = (j + 1) & mask) {
		struct record moved = table[j];
		table[j].cookie = 0;
		table[slot_of(moved.cookie)] = moved;
	}
}

static enum state state_of(const struct record *r)
{
	if (r->freed) return FREED;
	if (r->released) return DYING;
	return ALIVE;
}

static void observe(uint64_t *buckets, double *sum, double value)
{
	size_t i = 0;
	while (i < BOUNDS && value > bounds[i]) i++;
	buckets[i]++;
	*sum += value;
}

static int mark_released(struct record *r, uint64_t t)
{
	if (!r->released) { r->released = t; return 1; }
	if (t < r->released) r->released = t;
	return 0;
}

static void apply(const struct netns_event *e)
{
	kinds[e->kind & 15]++;
	if (e->kind == NETNS_EV_CREATE_FAILED) return;
	if (e->kind == NETNS_EV_CLEANUP_START) { cleanup_started = e->timestamp_ns; return; }
	if (e->kind == NETNS_EV_CLEANUP_END) {
		batches++;
		if (cleanup_started && e->timestamp_ns >= cleanup_started)
			observe(cleanup_buckets, &cleanup_sum, (e->timestamp_ns - cleanup_started) / 1e9);
		cleanup_started = 0;
		return;
	}
	if (e->cookie == 0) { invalid++; return; }
	size_t h = slot_of(e->cookie);
	struct record *r = &table[h];
	if (r->cookie == 0) {
		if (e->kind == NETNS_EV_REFS || e->kind == NETNS_EV_SETUP) return;
		memset(r, 0, sizeof(*r));
		r->cookie = e->cookie;
	}
	enum state before = (r->created || r->discovered || r->released) ? state_of(r) : NONE;
	int lifetime_known = r->created && r->released;
	if (!r->inum) r->inum = e->inum;
	if (e->active_refs != NETNS_REFS_UNKNOWN && e->passive_refs != NETNS_REFS_UNKNOWN && e->timestamp_ns >= r->refs_at) {
		r->active = e->active_refs;
		r->passive = e->passive_refs;
		r->refs_at = e->timestamp_ns;
	}
	switch (e->kind) {
	case NETNS_EV_CREATED:
		if (!r->created) { created++; r->created = e->timestamp_ns; r->creator_pid = e->pid; memcpy(r->creator_comm, e->comm, 16); }
		break;
	case NETNS_EV_DISCOVERED:
		if (!r->created && !r->discovered) { discovered++; r->discovered = e->timestamp_ns; }
		break;
	case NETNS_EV_RELEASED:
		released += mark_released(r, e->timestamp_ns);
		break;
	case NETNS_EV_TORN_DOWN:
		released += mark_released(r, e->timestamp_ns);
		if (!r->torn_down || e->timestamp_ns < r->torn_down) r->torn_down = e->timestamp_ns;
		break;
	case NETNS_EV_FREED:
		released += mark_released(r, e->timestamp_ns);
		if (!r->freed) { freed++; r->freed = e->timestamp_ns; }
		break;
	default:
		break;
	}
	if (!lifetime_known && r->created && r->released)
		observe(lifetime_buckets, &lifetime_sum, r->released >= r->created ? (r->released - r->created) / 1e9 : 0);
	enum state after = state_of(r);
	if (before == after) return;
	if (before != NONE) state_counts[before]--;
	state_counts[after]++;
	if (after == FREED) {
		if (history_count == HISTORY) {
			erase(history[history_head]);
			state_counts[FREED]--;
			evictions++;
			history[history_head] = e->cookie;
			history_head = (history_head + 1) % HISTORY;
		} else {
			history[(history_head + history_count++) % HISTORY] = e->cookie;
		}
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 2; }
	FILE *file = fopen(argv[1], "rb");
	if (!file) { perror(argv[1]); return 1; }
	fseek(file, 0, SEEK_END);
	long size = ftell(file);
	fseek(file, 0, SEEK_SET);
	unsigned char *bytes = malloc(size);
	if (fread(bytes, 1, size, file) != (size_t)size) { perror("read"); return 1; }
	size_t count = size / sizeof(struct netns_event);
	size_t capacity = 1 << 16;   /* the live set here stays within the freed history and a batch */
	mask = capacity - 1;
	table = calloc(capacity, sizeof(*table));
	double best = 1e9;
	for (int round = 0; round < 5; round++) {
		memset(table, 0, capacity * sizeof(*table));
		memset(state_counts, 0, sizeof(state_counts));
		history_head = history_count = 0;
		freed = 0;
		double start = now();
		for (size_t i = 0; i < count; i++) {
			struct netns_event e;
			memcpy(&e, bytes + i * sizeof(e), sizeof(e));
			if (e.kind < NETNS_EV_CREATED || e.kind > NETNS_EV_TORN_DOWN) continue;
			apply(&e);
		}
		double elapsed = now() - start;
		if (elapsed < best) best = elapsed;
	}
	printf("c_consumer_events_per_second %.0f events/s\n", count / best);
	printf("c_consumer_checksum %llu freed\n", (unsigned long long)freed);
	return 0;
}
