/*
 * tsjail's late-filter library (`tsjail run --late`), loaded into the command with
 * LD_PRELOAD=/proc/self/fd/N. It wraps __libc_start_main so that, once the dynamic loader and
 * libc's start-up are done and just before the program's main(), it loads a second, tighter
 * seccomp filter. The filter comes by file descriptor (a sealed memfd the helper made), never
 * by a path the jail could write.
 *
 * Hand-over: the filter is loaded with a notification listener (the start-up filter has none:
 * the kernel allows one per process). The library first announces the fd the listener will
 * get on a pipe to tsjail, then loads the filter and stops in the handshake call, which the
 * filter sends to that listener. tsjail takes the listener with pidfd_getfd and, while the
 * call is stopped, replaces the fd in this process with /dev/null
 * (SECCOMP_IOCTL_NOTIF_ADDFD), so the jail never holds a listener it could answer its own
 * calls with. Any failure ends the process (exit 125): the command never reaches main()
 * without its filter.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The handshake call (HANDSHAKE_NR in tsjail-helper.c and src/jail/notifications.ts). */
#define HANDSHAKE_NR 0x3ff7a11

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static void die(const char *what) {
	fprintf(stderr, "tsjail: cannot load the late seccomp filter: %s: %s\n", what, strerror(errno));
	_exit(125);
}

/* The fd number in the environment variable `name`, then removes the variable. */
static int fd_from_env(const char *name) {
	const char *v = getenv(name);
	if (!v) return -1;
	char *end;
	long fd = strtol(v, &end, 10);
	if (*end || fd < 0) { errno = EINVAL; die(name); }
	unsetenv(name);
	return (int)fd;
}

/* Drops this library, the first LD_PRELOAD entry, so the command's children do not load it. */
static void forget_preload(void) {
	const char *v = getenv("LD_PRELOAD");
	if (!v) return;
	const char *rest = strpbrk(v, " :");
	while (rest && (*rest == ' ' || *rest == ':')) rest++;
	if (rest && *rest) setenv("LD_PRELOAD", rest, 1);
	else unsetenv("LD_PRELOAD");
}

static void load_late_filter(void) {
	int filter_fd = fd_from_env("TSJAIL_LATE_FILTER_FD");
	int library_fd = fd_from_env("TSJAIL_LATE_LIBRARY_FD");
	int pipe_fd = fd_from_env("TSJAIL_LATE_PIPE_FD");
	if (filter_fd < 0) return; /* not started by tsjail --late */
	if (pipe_fd < 0) { errno = EINVAL; die("TSJAIL_LATE_PIPE_FD"); }
	struct stat st;
	if (fstat(filter_fd, &st)) die("fstat");
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) || st.st_size > 65536) { errno = EINVAL; die("filter size"); }
	struct sock_filter *insns = malloc((size_t)st.st_size);
	if (!insns) die("malloc");
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = pread(filter_fd, (char *)insns + done, (size_t)(st.st_size - done), done);
		if (n <= 0) { if (n < 0 && errno == EINTR) continue; if (n == 0) errno = EIO; die("read"); }
		done += n;
	}
	/* Everything that needs a syscall is done before the filter, which may not allow it. */
	close(filter_fd);
	if (library_fd >= 0) close(library_fd);
	forget_preload();
	/* The listener will be the lowest free fd: announce it. It is below the pipe's fd (the
	 * two just closed are free), so closing the pipe does not change it. */
	int lowest = fcntl(0, F_DUPFD_CLOEXEC, 0);
	if (lowest < 0) die("fcntl");
	close(lowest);
	uint32_t announced = (uint32_t)lowest;
	if (write(pipe_fd, &announced, sizeof announced) != sizeof announced) die("announce the listener");
	close(pipe_fd);
	struct sock_fprog prog = { (unsigned short)(st.st_size / sizeof(struct sock_filter)), insns };
	/* TSYNC: threads a constructor may have started get the filter too. */
	long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, &prog);
	if (listener < 0) die("seccomp");
	if (listener != lowest) { errno = EBADF; die("listener fd"); }
	/* Stops until tsjail holds the listener (and has replaced ours); answered ENOSYS. */
	syscall(HANDSHAKE_NR);
	free(insns);
}

static int late_main(int argc, char **argv, char **envp) {
	load_late_filter();
	return real_main(argc, argv, environ);
	(void)envp;
}

typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		void (*rtld_fini)(void), void *stack_end) {
	start_fn next = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	if (!next) { fprintf(stderr, "tsjail: cannot load the late seccomp filter: no __libc_start_main\n"); _exit(125); }
	real_main = main;
	return next(late_main, argc, argv, init, fini, rtld_fini, stack_end);
}
