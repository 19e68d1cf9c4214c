/* Times one syscall in a loop under a seccomp filter (or none): prints ns per call.
 * usage: syscall-loop FILTER.bpf|none NR ITERATIONS [ARG0 [ARG1]] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage: %s FILTER|none NR ITER [A0 [A1]]\n", argv[0]); return 2; }
	long nr = strtol(argv[2], NULL, 0), iter = strtol(argv[3], NULL, 0);
	long a0 = argc > 4 ? strtol(argv[4], NULL, 0) : 0, a1 = argc > 5 ? strtol(argv[5], NULL, 0) : 0;
	if (strcmp(argv[1], "none") != 0) {
		int fd = open(argv[1], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) { perror("filter"); return 2; }
		struct sock_filter *prog = malloc(st.st_size);
		if (read(fd, prog, st.st_size) != st.st_size) { perror("read"); return 2; }
		struct sock_fprog fprog = { .len = (unsigned short)(st.st_size / 8), .filter = prog };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog)) { perror("seccomp"); return 2; }
	}
	struct timespec t0, t1;
	for (long i = 0; i < iter / 10; i++) syscall(nr, a0, a1); /* warm up */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < iter; i++) syscall(nr, a0, a1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	char line[64];
	int len = snprintf(line, sizeof line, "%.1f\n", ns / iter);
	return write(1, line, len) == len ? 0 : 1;
}
