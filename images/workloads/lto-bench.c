// SPDX-License-Identifier: GPL-2.0-only
/*
 * lto-bench: in-guest micro-workloads for comparing kernels.
 *
 *   lto-bench WORKLOAD ITERATIONS
 *   lto-bench stamp        prints "@@LTOH STAMP ns=<CLOCK_BOOTTIME ns>"
 *   lto-bench list         the workloads, one per line
 *
 * Each workload exercises one kernel path and prints exactly one line:
 *
 *   @@LTOH BENCH name=<workload> iters=<n> ns=<total nanoseconds> rc=<0|errno>
 *
 * Time is CLOCK_MONOTONIC. Under QEMU `-icount shift=0,sleep=off` the guest
 * clock advances one nanosecond per executed instruction, so `ns` is then
 * a guest instruction count (path length), not wall time.
 *
 * Built static with the same clang for both arches:
 *   clang-19 --target=x86_64-linux-gnu  -O2 -static -fuse-ld=lld
 *   clang-19 --target=aarch64-linux-gnu -O2 -static -fuse-ld=lld
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *self_path = "/bin/lto-bench";

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int full_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int full_read(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The null system call: the cheapest trip into the kernel and back. */
static int w_getppid(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}

/* Two processes bounce one byte over two pipes: 2 context switches per iteration. */
static int w_pipe(long n)
{
	int a[2], b[2];
	char c = 0;
	if (pipe(a) || pipe(b))
		return errno;
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		for (long i = 0; i < n; i++) {
			if (full_read(a[0], &c, 1) || full_write(b[1], &c, 1))
				_exit(1);
		}
		_exit(0);
	}
	for (long i = 0; i < n; i++) {
		if (full_write(a[1], &c, 1) || full_read(b[0], &c, 1))
			return EIO;
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : ECHILD;
}

/* fork, the child exits at once, the parent waits. */
static int w_fork(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return errno;
		if (pid == 0)
			_exit(0);
		int st;
		if (waitpid(pid, &st, 0) < 0)
			return errno;
	}
	return 0;
}

/* fork, the child execs this (static) binary's no-op, the parent waits. */
static int w_exec(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return errno;
		if (pid == 0) {
			char *argv[] = { (char *)self_path, "noop", NULL };
			char *envp[] = { NULL };
			execve(self_path, argv, envp);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) < 0)
			return errno;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return ENOEXEC;
	}
	return 0;
}

/* Touch fresh anonymous pages: one page fault per iteration. */
static int w_pagefault(long n)
{
	long page = sysconf(_SC_PAGESIZE);
	const long chunk = 256;
	for (long done = 0; done < n; done += chunk) {
		long pages = n - done < chunk ? n - done : chunk;
		char *p = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return errno;
		for (long i = 0; i < pages; i++)
			p[i * page] = 1;
		munmap(p, (size_t)(pages * page));
	}
	return 0;
}

/* open, read 64 bytes, close a file on tmpfs. */
static int w_openclose(long n)
{
	const char *path = "/tmp/lto-bench-file";
	char buf[64];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		return errno;
	memset(buf, 'x', sizeof(buf));
	if (full_write(fd, buf, sizeof(buf)))
		return errno;
	close(fd);
	for (long i = 0; i < n; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return errno;
		if (read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return EIO;
		close(fd);
	}
	unlink(path);
	return 0;
}

/*
 * hackbench-like: 4 sender/receiver pairs over socketpairs, all running at
 * once; each sender writes n messages of 100 bytes, each receiver reads them.
 */
static int w_hackbench(long n)
{
	enum { PAIRS = 4, MSG = 100 };
	pid_t pids[2 * PAIRS];
	int np = 0;
	for (int p = 0; p < PAIRS; p++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return errno;
		for (int role = 0; role < 2; role++) {
			pid_t pid = fork();
			if (pid < 0)
				return errno;
			if (pid == 0) {
				char msg[MSG];
				memset(msg, 'm', sizeof(msg));
				close(sv[role]);
				int fd = sv[1 - role];
				for (long i = 0; i < n; i++) {
					int r = role == 0 ? full_write(fd, msg, MSG) : full_read(fd, msg, MSG);
					if (r)
						_exit(1);
				}
				_exit(0);
			}
			pids[np++] = pid;
		}
		close(sv[0]);
		close(sv[1]);
	}
	int rc = 0;
	for (int i = 0; i < np; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = EIO;
	}
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(long);
} workloads[] = {
	{ "getppid", w_getppid },     { "pipe", w_pipe },
	{ "fork", w_fork },	      { "exec", w_exec },
	{ "pagefault", w_pagefault }, { "openclose", w_openclose },
	{ "hackbench", w_hackbench },
};

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "noop") == 0)
		return 0;
	if (argc >= 2 && strcmp(argv[1], "stamp") == 0) {
		/* Time since boot: with -icount, instructions since boot. */
		struct timespec ts;
		clock_gettime(CLOCK_BOOTTIME, &ts);
		printf("@@LTOH STAMP ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
			printf("%s\n", workloads[i].name);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: lto-bench WORKLOAD ITERATIONS | list\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		if (strcmp(argv[1], workloads[i].name) != 0)
			continue;
		long long t0 = now_ns();
		int rc = workloads[i].fn(n);
		long long t1 = now_ns();
		printf("@@LTOH BENCH name=%s iters=%ld ns=%lld rc=%d\n", workloads[i].name, n, t1 - t0, rc);
		fflush(stdout);
		return rc ? 1 : 0;
	}
	fprintf(stderr, "lto-bench: unknown workload %s\n", argv[1]);
	return 2;
}
