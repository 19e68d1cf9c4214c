/* Programs for test/supervisor.test.ts: floods of refused calls, kills in threads and children,
 * and a wrapper that reports the peak RSS of what it runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void *call_uname(void *arg) {
	struct utsname u;
	(void)arg;
	uname(&u);
	return NULL;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;
	if (!strcmp(mode, "flood")) {
		/* n refused calls, each of a different number no ABI uses. */
		long refused = 0;
		for (long i = 0; i < n; i++) if (syscall(1000 + i) < 0) refused++;
		printf("refused %ld\n", refused);
		return 0;
	}
	if (!strcmp(mode, "repeat")) {
		/* The same refused call (keyctl, a rule of the built-in policy) n times; counts EPERMs. */
		long refused = 0;
		for (long i = 0; i < n; i++) if (syscall(SYS_keyctl, 0, -1, 0) < 0 && errno == EPERM) refused++;
		printf("refused %ld\n", refused);
		return 0;
	}
	if (!strcmp(mode, "thread-uname")) {
		/* A second thread makes the call; the main thread only waits for it. */
		pthread_t t;
		pthread_create(&t, NULL, call_uname, NULL);
		pthread_join(t, NULL);
		printf("survived\n");
		return 0;
	}
	if (!strcmp(mode, "child-uname")) {
		/* A child makes the call; the main process reports how it ended and goes on. */
		pid_t pid = fork();
		if (pid == 0) { call_uname(NULL); _exit(0); }
		int status;
		waitpid(pid, &status, 0);
		printf("child %s %d\n", WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return 7;
	}
	if (!strcmp(mode, "rss") && argc > 2) {
		/* Runs argv[2...] and prints its peak RSS in KB (the kernel's VmHWM at exit) on fd 3. */
		pid_t pid = fork();
		if (pid == 0) { execvp(argv[2], argv + 2); _exit(127); }
		int status;
		struct rusage ru;
		wait4(pid, &status, 0, &ru);
		dprintf(3, "%ld\n", ru.ru_maxrss);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	fprintf(stderr, "usage: supervisor-probe flood|repeat N | thread-uname | child-uname | rss CMD...\n");
	return 2;
}
