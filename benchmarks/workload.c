// Unrelated work that never touches a network namespace: how much does the agent tax it?
// Usage: unrelated-work socket|fork|unshare ITERATIONS  -> prints nanoseconds per operation.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s socket|fork|unshare ITERATIONS\n", argv[0]);
		return 2;
	}
	long iterations = atol(argv[2]);
	double start = now();
	for (long i = 0; i < iterations; i++) {
		if (strcmp(argv[1], "socket") == 0) {
			int fd = socket(AF_INET, SOCK_DGRAM, 0);
			if (fd < 0) { perror("socket"); return 1; }
			close(fd);
		} else if (strcmp(argv[1], "fork") == 0) {
			pid_t pid = fork();
			if (pid < 0) { perror("fork"); return 1; }
			if (pid == 0) _exit(0);
			waitpid(pid, NULL, 0);
		} else if (strcmp(argv[1], "unshare") == 0) {
			pid_t pid = fork();
			if (pid < 0) { perror("fork"); return 1; }
			if (pid == 0) _exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
			int status;
			waitpid(pid, &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "unshare failed\n"); return 1; }
		} else {
			fprintf(stderr, "unknown workload %s\n", argv[1]);
			return 2;
		}
	}
	printf("%.1f\n", (now() - start) / iterations);
	return 0;
}
