// Work for the benchmarks: loops that never touch a network namespace (how much does a tracer
// tax them?) and namespace churn.
//
//   workload socket|fork|unshare ITERATIONS   prints nanoseconds per operation
//   workload socket|fork|unshare SECONDSs     (e.g. 30s) loops for that long, then prints
//                                             "NS_PER_OP OPS CPU_NS WALL_NS UNSHARE_NS": CPU_NS
//                                             is the CPU time of the loop and its children,
//                                             UNSHARE_NS the CPU time spent in unshare() itself
//
// socket: socket()+close(); fork: fork()+_exit+waitpid; unshare: fork, the child calls
// unshare(CLONE_NEWNET) and exits (a namespace made and dropped per operation).
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

static double cpu_ns(void)
{
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	double us = 0;
	us += self.ru_utime.tv_sec * 1e6 + self.ru_utime.tv_usec + self.ru_stime.tv_sec * 1e6 + self.ru_stime.tv_usec;
	us += children.ru_utime.tv_sec * 1e6 + children.ru_utime.tv_usec + children.ru_stime.tv_sec * 1e6 + children.ru_stime.tv_usec;
	return us * 1e3;
}

/* CPU time the children spent inside unshare(), summed across the fork (shared memory). */
static unsigned long long *unshare_cpu_ns;

static double thread_cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* One operation of `name`; 0 on success. */
static int operation(const char *name)
{
	if (strcmp(name, "socket") == 0) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0) { perror("socket"); return 1; }
		close(fd);
	} else if (strcmp(name, "fork") == 0) {
		pid_t pid = fork();
		if (pid < 0) { perror("fork"); return 1; }
		if (pid == 0) _exit(0);
		waitpid(pid, NULL, 0);
	} else if (strcmp(name, "unshare") == 0) {
		pid_t pid = fork();
		if (pid < 0) { perror("fork"); return 1; }
		if (pid == 0) {
			double before = thread_cpu_ns();
			int failed = unshare(CLONE_NEWNET);
			__atomic_fetch_add(unshare_cpu_ns, (unsigned long long)(thread_cpu_ns() - before), __ATOMIC_RELAXED);
			_exit(failed ? 1 : 0);
		}
		int status;
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "unshare failed\n"); return 1; }
	} else {
		fprintf(stderr, "unknown workload %s\n", name);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || atol(argv[2]) <= 0) {
		fprintf(stderr, "usage: %s socket|fork|unshare ITERATIONS|SECONDSs\n", argv[0]);
		return 2;
	}
	unshare_cpu_ns = mmap(NULL, sizeof(*unshare_cpu_ns), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (unshare_cpu_ns == MAP_FAILED) { perror("mmap"); return 1; }
	size_t length = strlen(argv[2]);
	int timed = argv[2][length - 1] == 's';
	double start = now(), deadline = start + atol(argv[2]) * 1e9, cpu_start = cpu_ns();
	long done = 0;
	for (long limit = timed ? -1 : atol(argv[2]); limit < 0 || done < limit; done++) {
		int failed = operation(argv[1]);
		if (failed)
			return failed;
		/* Check the clock every 64 operations: a clock read is not free next to socket(). */
		if (timed && (done & 63) == 63 && now() >= deadline) {
			done++;
			break;
		}
	}
	double wall = now() - start;
	if (timed)
		printf("%.1f %ld %.0f %.0f %llu\n", wall / done, done, cpu_ns() - cpu_start, wall, *unshare_cpu_ns);
	else
		printf("%.1f\n", wall / done);
	return 0;
}
