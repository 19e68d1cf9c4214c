/*
 * tsjail's late-filter library (`tsjail run --late`), loaded into the command with
 * LD_PRELOAD=/proc/self/fd/N (a sealed memfd the helper made, never a path the jail could
 * write). It wraps __libc_start_main so that, once the dynamic loader, libc's start-up and the
 * constructors are done and just before the program's main(), it tells tsjail with the MAIN_NR
 * call. The policy's filter has been loaded since before execve, with tsjail holding its
 * notification listener; until that call tsjail lets the loader's syscalls through, after it
 * the policy alone decides.
 *
 * Why not a second filter loaded here: the kernel allows one listener per process. A late
 * filter carrying it would leave the start-up filter without one, and code running before
 * main() could install its own listener and answer every start-up denial with "continue".
 * Calling MAIN_NR early only makes the jail stricter sooner.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* "main() is next" (MAIN_NR in src/jail/notifications.ts). */
#define MAIN_NR 0x3ff7a12

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static void die(const char *what) {
	fprintf(stderr, "tsjail: cannot start the late policy: %s: %s\n", what, strerror(errno));
	_exit(125);
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

static void start_late_policy(void) {
	const char *v = getenv("TSJAIL_LATE_LIBRARY_FD");
	if (!v) return; /* not started by tsjail --late */
	char *end;
	long fd = strtol(v, &end, 10);
	if (*end || fd < 0) { errno = EINVAL; die("TSJAIL_LATE_LIBRARY_FD"); }
	unsetenv("TSJAIL_LATE_LIBRARY_FD");
	close((int)fd);
	forget_preload();
	/* Stops at tsjail, which answers 0 once it decides by the policy alone. */
	if (syscall(MAIN_NR) != 0) die("tell tsjail main() is next");
}

static int late_main(int argc, char **argv, char **envp) {
	(void)envp;
	start_late_policy();
	return real_main(argc, argv, environ);
}

typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		void (*rtld_fini)(void), void *stack_end) {
	start_fn next = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
	if (!next) { fprintf(stderr, "tsjail: cannot start the late policy: no __libc_start_main\n"); _exit(125); }
	real_main = main;
	return next(late_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* The SHA-256 of this file, set by tsjail's build (src/jail/helper.ts): tsjail hands the jail no
 * preload library whose mark differs from the source it ships. */
#ifndef TSJAIL_SOURCE_HASH
#define TSJAIL_SOURCE_HASH "unset"
#endif
__attribute__((used, visibility("hidden"))) const char tsjail_source_mark[] = "tsjail-source-sha256:" TSJAIL_SOURCE_HASH;
