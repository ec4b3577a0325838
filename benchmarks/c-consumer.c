// The plainest C consumer of the agent's ring-buffer records, as a yardstick for the Swift
// pipeline: reads the records `netns-bench dump` wrote, copies each into struct netns_event,
// and keeps per-cookie state in an open-addressing hash table (created, released, freed).
// Usage: c-consumer FILE  -> prints events per second (best of 5).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../bpf/netns_event.h"

struct slot { uint64_t cookie; uint64_t created, released, freed; uint32_t inum; int32_t active, passive; };

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
	size_t capacity = 1;
	while (capacity < count * 2) capacity <<= 1;
	struct slot *table = calloc(capacity, sizeof(*table));
	double best = 1e9;
	uint64_t freed = 0;
	for (int round = 0; round < 5; round++) {
		memset(table, 0, capacity * sizeof(*table));
		double start = now();
		for (size_t i = 0; i < count; i++) {
			struct netns_event e;
			memcpy(&e, bytes + i * sizeof(e), sizeof(e));
			if (e.kind < NETNS_EV_CREATED || e.kind > NETNS_EV_TORN_DOWN) continue;
			if (e.cookie == 0) continue;
			size_t h = (e.cookie * 0x9E3779B97F4A7C15ull) & (capacity - 1);
			while (table[h].cookie != 0 && table[h].cookie != e.cookie) h = (h + 1) & (capacity - 1);
			struct slot *s = &table[h];
			s->cookie = e.cookie;
			if (e.inum) s->inum = e.inum;
			s->active = e.active_refs;
			s->passive = e.passive_refs;
			switch (e.kind) {
			case NETNS_EV_CREATED: if (!s->created) s->created = e.timestamp_ns; break;
			case NETNS_EV_RELEASED: if (!s->released) s->released = e.timestamp_ns; break;
			case NETNS_EV_FREED: if (!s->freed) { s->freed = e.timestamp_ns; freed++; } break;
			default: break;
			}
		}
		double elapsed = now() - start;
		if (elapsed < best) best = elapsed;
	}
	printf("c_consumer_events_per_second %.0f events/s\n", count / best);
	printf("c_consumer_checksum %llu freed\n", (unsigned long long)freed);
	return 0;
}
