// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The ways real software makes network namespaces, for the exactness tests: each mode makes a
 * known number of namespaces, the way a runtime, a CNI plugin, a sandbox or a test harness
 * does, and most of them leave no trace in any fork, exec or exit.
 *
 *   loop N              one process calls unshare(CLONE_NEWNET) N times (each call drops the
 *                       namespace the previous one made), then exits
 *   threads T N         T threads at once, each calling unshare(CLONE_NEWNET) N times
 *   clone N             N children made by clone(CLONE_NEWNET), each exiting at once
 *   pin DIR N           N namespaces made the CNI way: a thread unshares, bind-mounts
 *                       /proc/self/task/TID/ns/net at DIR/pin-I and setns()es back; they stay
 *                       pinned after this process exits
 *   unpin DIR N         unmounts and removes those of DIR/pin-0 .. DIR/pin-(N-1) still there
 *   visit DIR N R       enters each pinned namespace with setns() and leaves it again, R
 *                       rounds (no namespace is made)
 *   enter-unpin DIR N   enters each pinned namespace from its own thread, unpins it while the
 *                       thread is inside, then leaves: the leaving setns() drops the last
 *                       reference (released with no exit anywhere)
 *   mix N               all of the above at once in one process: loop, threads, clone and
 *                       pin/enter/unpin, N namespaces per kind (N*6 made in all)
 *   hold fd|socket S    one namespace held only by this process's descriptor of it, or by a
 *                       socket opened in it: a thread unshares, opens it, setns()es back and
 *                       ends; prints "held INUM" and sleeps S seconds (no task is in it)
 *   burst N [S]         N namespaces held only by descriptors of this process (it unshares and
 *                       opens each in turn), all released at once when it exits: far faster
 *                       than the kernel's cleanup batches free them. With S, prints "held N"
 *                       and holds them S seconds first
 *   listns net          the ids listns(2) gives for every active network namespace, one per
 *                       line (6.19 and later), or "listns unsupported" where it has none
 *   cookie S            one namespace of its own: unshares, prints "held INUM COOKIE" (the
 *                       cookie that getsockopt(SO_NETNS_COOKIE) gives a socket in it, 5.14+;
 *                       "none" where the kernel has no such option) and sleeps S seconds
 *   hidden-pin S        one namespace held only by a bind mount inside a mount namespace no
 *                       process is in, which this process holds by a descriptor: prints
 *                       "held INUM" and sleeps S seconds; its exit frees both
 *   devices N S         one namespace with N dummy devices up (the kernel's dummy driver), whose
 *                       teardown takes long: unshares, makes them over rtnetlink, prints
 *                       "held INUM", sleeps S seconds and exits (releasing it)
 *
 * Prints "made K" (namespaces made) on success; any failure is one line on stderr and exit
 * status 1. Statically linkable (the kernel matrix runs it in a busybox guest).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "netns-patterns: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long number(const char *text)
{
	char *end;
	long value = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || value < 0) {
		fprintf(stderr, "netns-patterns: not a count: %s\n", text);
		exit(2);
	}
	return value;
}

static void unshare_net(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		die("unshare(CLONE_NEWNET)");
}

/* The calling thread's namespace, as a descriptor (to come back to it). */
static int own_netns(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	return fd;
}

static void enter(int fd)
{
	if (setns(fd, CLONE_NEWNET) != 0)
		die("setns");
}

/* ---- loop, threads ---------------------------------------------------------------------- */

static void *unshare_loop(void *count)
{
	for (long i = 0; i < (long)count; i++)
		unshare_net();
	return NULL;
}

static void run_threads(long threads, long each)
{
	pthread_t ids[threads];
	for (long t = 0; t < threads; t++)
		if ((errno = pthread_create(&ids[t], NULL, unshare_loop, (void *)each)) != 0)
			die("pthread_create");
	for (long t = 0; t < threads; t++)
		pthread_join(ids[t], NULL);
}

/* ---- clone ------------------------------------------------------------------------------ */

static int child_exits(void *unused)
{
	(void)unused;
	return 0;
}

static void *clone_children(void *count)
{
	static __thread char stack[64 * 1024] __attribute__((aligned(16)));
	for (long i = 0; i < (long)count; i++) {
		pid_t pid = clone(child_exits, stack + sizeof(stack), CLONE_NEWNET | SIGCHLD, NULL);
		if (pid < 0)
			die("clone(CLONE_NEWNET)");
		int status;
		if (waitpid(pid, &status, __WALL) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			die("waitpid");
	}
	return NULL;
}

/* ---- pins ------------------------------------------------------------------------------- */

struct pin_job {
	const char *dir;
	long index;
};

static void pin_path(char *path, size_t size, const char *dir, long index)
{
	snprintf(path, size, "%s/pin-%ld", dir, index);
}

/* The CNI way, in a thread of a long-lived process: unshare, bind-mount, setns back. */
static void *pin_one(void *argument)
{
	struct pin_job *job = argument;
	char target[4096], source[64];
	int home = own_netns();
	pin_path(target, sizeof(target), job->dir, job->index);
	int file = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (file < 0)
		die(target);
	close(file);
	unshare_net();
	snprintf(source, sizeof(source), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
	if (mount(source, target, NULL, MS_BIND, NULL) != 0)
		die("mount --bind");
	enter(home);
	close(home);
	return NULL;
}

static void pin_all(const char *dir, long count)
{
	for (long i = 0; i < count; i++) {
		struct pin_job job = { .dir = dir, .index = i };
		pthread_t id;
		if ((errno = pthread_create(&id, NULL, pin_one, &job)) != 0)
			die("pthread_create");
		pthread_join(id, NULL);
	}
}

static void unpin(const char *dir, long index)
{
	char target[4096];
	pin_path(target, sizeof(target), dir, index);
	if (umount2(target, MNT_DETACH) != 0)
		die("umount");
	if (unlink(target) != 0)
		die("unlink");
}

static int open_pin(const char *dir, long index)
{
	char target[4096];
	pin_path(target, sizeof(target), dir, index);
	int fd = open(target, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(target);
	return fd;
}

static void visit_all(const char *dir, long count, long rounds)
{
	int home = own_netns();
	for (long r = 0; r < rounds; r++) {
		for (long i = 0; i < count; i++) {
			int pinned = open_pin(dir, i);
			enter(pinned);
			close(pinned);
			enter(home);
		}
	}
	close(home);
}

/* Enters a pinned namespace, removes the pin while inside, and leaves (the last reference). */
static void *enter_unpin_one(void *argument)
{
	struct pin_job *job = argument;
	int home = own_netns();
	int pinned = open_pin(job->dir, job->index);
	enter(pinned);
	close(pinned);
	unpin(job->dir, job->index);
	enter(home);
	close(home);
	return NULL;
}

static void enter_unpin_all(const char *dir, long count)
{
	for (long i = 0; i < count; i++) {
		struct pin_job job = { .dir = dir, .index = i };
		pthread_t id;
		if ((errno = pthread_create(&id, NULL, enter_unpin_one, &job)) != 0)
			die("pthread_create");
		pthread_join(id, NULL);
	}
}

/* ---- mix -------------------------------------------------------------------------------- */

struct pins_job {
	char dir[4096];
	long count;
};

static void *pins_cycle(void *argument)
{
	struct pins_job *job = argument;
	pin_all(job->dir, job->count);            /* N made, pinned */
	visit_all(job->dir, job->count, 2);
	enter_unpin_all(job->dir, job->count / 2); /* half released from inside */
	for (long i = job->count / 2; i < job->count; i++)
		unpin(job->dir, i);                  /* the rest by their unmount */
	return NULL;
}

static long run_mix(long n)
{
	struct pins_job pins;
	snprintf(pins.dir, sizeof(pins.dir), "/tmp/netns-patterns-%ld", (long)getpid());
	if (mkdir(pins.dir, 0700) != 0)
		die(pins.dir);
	pins.count = n;
	pthread_t loop, clones, pinning, threads[3];
	long per_thread = n;
	if ((errno = pthread_create(&loop, NULL, unshare_loop, (void *)n)) != 0 ||
	    (errno = pthread_create(&clones, NULL, clone_children, (void *)n)) != 0 ||
	    (errno = pthread_create(&pinning, NULL, pins_cycle, &pins)) != 0)
		die("pthread_create");
	for (int t = 0; t < 3; t++)
		if ((errno = pthread_create(&threads[t], NULL, unshare_loop, (void *)per_thread)) != 0)
			die("pthread_create");
	pthread_join(loop, NULL);
	pthread_join(clones, NULL);
	pthread_join(pinning, NULL);
	for (int t = 0; t < 3; t++)
		pthread_join(threads[t], NULL);
	rmdir(pins.dir);
	return n * 6;
}

/* ---- hold ------------------------------------------------------------------------------- */

struct hold { int socket; int fd; unsigned long inum; };

static void *hold_one(void *argument)
{
	struct hold *hold = argument;
	int home = own_netns();
	unshare_net();
	int self = own_netns();
	struct stat st;
	if (fstat(self, &st) != 0)
		die("fstat");
	hold->inum = st.st_ino;
	if (hold->socket) {
		hold->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (hold->fd < 0)
			die("socket");
		close(self);
	} else {
		hold->fd = self;
	}
	enter(home);
	close(home);
	return NULL;
}

/* ---- burst ------------------------------------------------------------------------------ */

/* Makes `count` namespaces, each held by a descriptor left open for exit to close. */
static void hold_burst(long count)
{
	struct rlimit limit = { .rlim_cur = (rlim_t)count + 64, .rlim_max = (rlim_t)count + 64 };
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
		die("setrlimit RLIMIT_NOFILE");
	for (long i = 0; i < count; i++) {
		unshare_net();
		if (open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) < 0)
			die("open /proc/self/ns/net");
	}
}

/* ---- hidden-pin ------------------------------------------------------------------------- */

/*
 * A network namespace no task, descriptor or visible mount holds: a child unshares its mount
 * and network namespaces, mounts a tmpfs on /tmp in its own (private) mount namespace and
 * bind-mounts its network namespace on a file there; this process keeps a descriptor of the
 * child's mount namespace and lets the child exit. No /proc/PID/mountinfo shows the mount,
 * and no file iterator sees a network namespace file. Returns the namespace's inum; closing
 * the descriptor (exiting) frees both namespaces.
 */
static unsigned long hidden_pin(void)
{
	int up[2], down[2];
	if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
		die("pipe");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		struct stat st;
		char go;
		int fd;
		if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("hidden-pin", "/tmp", "tmpfs", 0, "size=64k") != 0 ||
		    (fd = open("/tmp/net", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
		    close(fd) != 0 ||
		    mount("/proc/self/ns/net", "/tmp/net", NULL, MS_BIND, NULL) != 0 ||
		    stat("/proc/self/ns/net", &st) != 0)
			die("hidden-pin child");
		unsigned long inum = st.st_ino;
		/* Exits once the parent holds the mount namespace, or is gone (end of file). */
		if (write(up[1], &inum, sizeof(inum)) != sizeof(inum))
			die("hidden-pin child pipe");
		_exit(read(down[0], &go, 1) == 1 ? 0 : 1);
	}
	close(up[1]);
	close(down[0]);
	unsigned long inum = 0;
	char child_mnt[64];
	snprintf(child_mnt, sizeof(child_mnt), "/proc/%d/ns/mnt", (int)child);
	int status = 0;
	if (read(up[0], &inum, sizeof(inum)) != sizeof(inum) || open(child_mnt, O_RDONLY | O_CLOEXEC) < 0 ||
	    write(down[1], "x", 1) != 1 || waitpid(child, &status, 0) != child || status != 0) {
		kill(child, SIGKILL);
		die("hidden-pin");
	}
	return inum;
}

/* ---- devices ---------------------------------------------------------------------------- */

/* Appends attribute `type` with `length` bytes of `data` to the message in `buffer`. */
static struct rtattr *attribute(struct nlmsghdr *message, size_t room, int type, const void *data, size_t length)
{
	struct rtattr *attr = (struct rtattr *)((char *)message + NLMSG_ALIGN(message->nlmsg_len));
	if (NLMSG_ALIGN(message->nlmsg_len) + RTA_SPACE(length) > room) {
		fprintf(stderr, "netns-patterns: netlink message too long\n");
		exit(1);
	}
	attr->rta_type = type;
	attr->rta_len = RTA_LENGTH(length);
	if (length)
		memcpy(RTA_DATA(attr), data, length);
	message->nlmsg_len = NLMSG_ALIGN(message->nlmsg_len) + RTA_SPACE(length);
	return attr;
}

/* Makes dummy device `name`, up, in the current namespace (RTM_NEWLINK), and waits for the ack. */
static void add_dummy(int netlink, const char *name, unsigned sequence)
{
	char buffer[512] = { 0 };
	struct nlmsghdr *message = (struct nlmsghdr *)buffer;
	message->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	message->nlmsg_type = RTM_NEWLINK;
	message->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	message->nlmsg_seq = sequence;
	struct ifinfomsg *info = NLMSG_DATA(message);
	info->ifi_family = AF_UNSPEC;
	info->ifi_flags = IFF_UP;
	info->ifi_change = IFF_UP;
	attribute(message, sizeof(buffer), IFLA_IFNAME, name, strlen(name) + 1);
	struct rtattr *linkinfo = attribute(message, sizeof(buffer), IFLA_LINKINFO, NULL, 0);
	attribute(message, sizeof(buffer), IFLA_INFO_KIND, "dummy", 5);
	linkinfo->rta_len = (unsigned short)((char *)message + message->nlmsg_len - (char *)linkinfo);
	if (send(netlink, message, message->nlmsg_len, 0) < 0)
		die("netlink send");
	char reply[4096];
	ssize_t got = recv(netlink, reply, sizeof(reply), 0);
	if (got < 0)
		die("netlink recv");
	struct nlmsghdr *answer = (struct nlmsghdr *)reply;
	if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || answer->nlmsg_type != NLMSG_ERROR) {
		fprintf(stderr, "netns-patterns: unexpected netlink answer\n");
		exit(1);
	}
	struct nlmsgerr *error = NLMSG_DATA(answer);
	if (error->error != 0) {
		errno = -error->error;
		die("RTM_NEWLINK dummy");
	}
}

static void make_devices(long count)
{
	unshare_net();
	int netlink = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (netlink < 0)
		die("netlink socket");
	for (long i = 0; i < count; i++) {
		char name[IFNAMSIZ];
		snprintf(name, sizeof(name), "d%u", (unsigned)i);
		add_dummy(netlink, name, (unsigned)i + 1);
	}
	close(netlink);
}

static void usage(void)
{
	fprintf(stderr, "usage: netns-patterns loop N | threads T N | clone N | pin DIR N | unpin DIR N |\n"
			"                      visit DIR N ROUNDS | enter-unpin DIR N | mix N | hold fd|socket SECONDS |\n"
			"                      burst N [SECONDS] | cookie SECONDS | devices N SECONDS | listns net |\n"
			"                      hidden-pin SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	const char *mode = argv[1];
	long made = 0;
	if (strcmp(mode, "loop") == 0 && argc == 3) {
		made = number(argv[2]);
		unshare_loop((void *)made);
	} else if (strcmp(mode, "threads") == 0 && argc == 4) {
		long threads = number(argv[2]), each = number(argv[3]);
		if (threads < 1 || threads > 256)
			usage();
		run_threads(threads, each);
		made = threads * each;
	} else if (strcmp(mode, "clone") == 0 && argc == 3) {
		made = number(argv[2]);
		clone_children((void *)made);
	} else if (strcmp(mode, "pin") == 0 && argc == 4) {
		made = number(argv[3]);
		pin_all(argv[2], made);
	} else if (strcmp(mode, "unpin") == 0 && argc == 4) {
		for (long i = 0; i < number(argv[3]); i++) {
			char target[4096];
			pin_path(target, sizeof(target), argv[2], i);
			if (access(target, F_OK) == 0)
				unpin(argv[2], i);
		}
	} else if (strcmp(mode, "visit") == 0 && argc == 5) {
		visit_all(argv[2], number(argv[3]), number(argv[4]));
	} else if (strcmp(mode, "enter-unpin") == 0 && argc == 4) {
		enter_unpin_all(argv[2], number(argv[3]));
	} else if (strcmp(mode, "mix") == 0 && argc == 3) {
		made = run_mix(number(argv[2]));
	} else if (strcmp(mode, "hold") == 0 && argc == 4 &&
		   (strcmp(argv[2], "fd") == 0 || strcmp(argv[2], "socket") == 0)) {
		struct hold hold = { .socket = strcmp(argv[2], "socket") == 0, .fd = -1 };
		long seconds = number(argv[3]);
		pthread_t thread;
		if ((errno = pthread_create(&thread, NULL, hold_one, &hold)) != 0)
			die("pthread_create");
		pthread_join(thread, NULL);
		printf("held %lu\n", hold.inum);
		fflush(stdout);
		sleep((unsigned)seconds);
		return 0;
	} else if (strcmp(mode, "burst") == 0 && (argc == 3 || argc == 4)) {
		made = number(argv[2]);
		hold_burst(made);
		if (argc == 4) {
			printf("held %ld\n", made);
			fflush(stdout);
			sleep((unsigned)number(argv[3]));
		}
	} else if (strcmp(mode, "listns") == 0 && argc == 3 && strcmp(argv[2], "net") == 0) {
		/* struct ns_id_req in its first published layout; 470 is listns in the generic table. */
		struct { uint32_t size, spare; uint64_t ns_id; uint32_t ns_type, spare2; uint64_t user_ns_id; } req = {
			.size = 32, .ns_type = CLONE_NEWNET,
		};
		uint64_t ids[256];
		for (;;) {
			long count = syscall(470, &req, ids, 256UL, 0U);
			if (count < 0 && errno == ENOSYS) {
				printf("listns unsupported\n");
				return 0;
			}
			if (count < 0 && errno == ENOENT && req.ns_id != 0)
				return 0;   /* the last page was full: nothing after it */
			if (count < 0)
				die("listns");
			for (long i = 0; i < count; i++)
				printf("%llu\n", (unsigned long long)ids[i]);
			if (count < 256)
				return 0;
			req.ns_id = ids[count - 1];
		}
	} else if (strcmp(mode, "cookie") == 0 && argc == 3) {
		long seconds = number(argv[2]);
		unshare_net();
		struct stat st;
		if (stat("/proc/self/ns/net", &st) != 0)
			die("stat /proc/self/ns/net");
		int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (sock < 0)
			die("socket");
		unsigned long long cookie = 0;
		socklen_t length = sizeof(cookie);
		if (getsockopt(sock, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &cookie, &length) == 0)
			printf("held %lu %llu\n", (unsigned long)st.st_ino, cookie);
		else if (errno == ENOPROTOOPT)
			printf("held %lu none\n", (unsigned long)st.st_ino);
		else
			die("getsockopt SO_NETNS_COOKIE");
		fflush(stdout);
		sleep((unsigned)seconds);
		return 0;
	} else if (strcmp(mode, "hidden-pin") == 0 && argc == 3) {
		long seconds = number(argv[2]);
		printf("held %lu\n", hidden_pin());
		fflush(stdout);
		sleep((unsigned)seconds);
		return 0;
	} else if (strcmp(mode, "devices") == 0 && argc == 4) {
		long count = number(argv[2]), seconds = number(argv[3]);
		make_devices(count);
		struct stat st;
		if (stat("/proc/self/ns/net", &st) != 0)
			die("stat /proc/self/ns/net");
		printf("held %lu\n", (unsigned long)st.st_ino);
		fflush(stdout);
		sleep((unsigned)seconds);
		return 0;
	} else {
		usage();
	}
	printf("made %ld\n", made);
	return 0;
}
