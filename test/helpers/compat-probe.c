/* Calls through x86's compat ABI (int 0x80) from a 64-bit process, as a jail may to slip past a
 * filter that checks only x86_64 numbers.
 * usage: compat-probe PID   prlimit64(PID, RLIMIT_CPU, {1, 1}) and setpriority(PRIO_PROCESS, PID, 19)
 *        through int 0x80; prints "prlimit64=R setpriority=R" (R: 0 or -errno). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static long i386call(long nr, long a, long b, long c, long d) {
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
	return r;
}

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	long pid = atol(argv[1]);
	/* The compat ABI takes 32-bit pointers: the limits live below 4 GiB. */
	unsigned long long *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED) return 3;
	low[0] = 1; low[1] = 1;
	long limit = i386call(340, pid, 0 /* RLIMIT_CPU */, (long)low, 0);
	long nice = i386call(97, 0 /* PRIO_PROCESS */, pid, 19, 0);
	printf("prlimit64=%ld setpriority=%ld\n", limit, nice);
	return 0;
}
