/* Loads a seccomp filter, then makes the syscalls named on the command line, each in its own
 * child so that kill and trap actions can be observed. Used by test/kernel.test.ts.
 *
 * usage: seccomp-probe FILTER.bpf ABI:NR:A0:A1:A2:A3:A4:A5 ...
 *   ABI is "native" (syscall(2)), "i386" (int $0x80) or "x32" (NR | 0x40000000).
 * prints one line per call: "ret=<r> errno=<e>" or "signal=<n>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long call_i386(long nr, unsigned long *a) {
#if defined(__x86_64__)
	long ret;
	register long ebx __asm__("rbx") = (long)(uint32_t)a[0];
	__asm__ volatile("int $0x80" : "=a"(ret) : "0"(nr), "r"(ebx), "c"((uint32_t)a[1]), "d"((uint32_t)a[2]),
			 "S"((uint32_t)a[3]), "D"((uint32_t)a[4]) : "r8", "r9", "r10", "r11", "memory");
	return ret;
#else
	(void)nr; (void)a;
	return -ENOSYS;
#endif
}

int main(int argc, char **argv) {
	if (argc < 2) { fprintf(stderr, "usage: %s FILTER.bpf CALL...\n", argv[0]); return 2; }
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) { perror("open filter"); return 2; }
	struct sock_filter *prog = malloc(st.st_size);
	if (read(fd, prog, st.st_size) != st.st_size) { perror("read filter"); return 2; }
	struct sock_fprog fprog = { .len = (unsigned short)(st.st_size / sizeof(struct sock_filter)), .filter = prog };
	for (int i = 2; i < argc; i++) {
		char abi[16] = {0};
		long nr;
		unsigned long a[6] = {0};
		if (sscanf(argv[i], "%15[^:]:%li:%li:%li:%li:%li:%li:%li", abi, &nr, (long *)&a[0], (long *)&a[1], (long *)&a[2],
			   (long *)&a[3], (long *)&a[4], (long *)&a[5]) < 2) {
			fprintf(stderr, "bad call spec %s\n", argv[i]);
			return 2;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); _exit(120); }
			if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) _exit(121);
			long ret;
			int err = 0;
			if (strcmp(abi, "i386") == 0) {
				ret = call_i386(nr, a);
				if (ret < 0 && ret > -4096) { err = (int)-ret; ret = -1; }
			} else {
				long n = strcmp(abi, "x32") == 0 ? (nr | 0x40000000L) : nr;
				errno = 0;
				ret = syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
				err = ret == -1 ? errno : 0;
			}
			/* Only write and exit after the filter: printf could stat stdout first. */
			char line[64];
			int len = snprintf(line, sizeof line, "ret=%ld errno=%d\n", ret, err);
			if (write(1, line, len) != len) _exit(122);
			_exit(0);
		}
		int status;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status)) printf("signal=%d\n", WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0) { printf("exit=%d\n", WEXITSTATUS(status)); }
	}
	return 0;
}
