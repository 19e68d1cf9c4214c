/* Escape probes for test/jail.test.ts: each tries one way out with harmless arguments and
 * prints "blocked <errno name>" or "ESCAPED". A probe killed by the jail prints nothing.
 * usage: escape-probe NAME [ARG] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int verdict(long ret) {
	if (ret < 0) { printf("blocked %s\n", strerrorname_np(errno)); return 0; }
	printf("ESCAPED\n");
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	const char *p = argv[1];
	const char *arg = argc > 2 ? argv[2] : "";
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(p, "ptrace")) return verdict(ptrace(PTRACE_ATTACH, atoi(arg), 0, 0));
	if (!strcmp(p, "process_vm_readv")) {
		char buf[8]; struct iovec l = { buf, 8 }, r = { (void *)&l, 8 };
		return verdict(syscall(SYS_process_vm_readv, getppid(), &l, 1, &r, 1, 0));
	}
	if (!strcmp(p, "mount")) return verdict(mount("none", "/tmp", "tmpfs", 0, NULL));
	if (!strcmp(p, "umount")) return verdict(umount2("/proc", MNT_DETACH));
	if (!strcmp(p, "chroot")) return verdict(chroot("/"));
	if (!strcmp(p, "pivot_root")) return verdict(syscall(SYS_pivot_root, "/", "/"));
	if (!strcmp(p, "unshare")) return verdict(unshare(CLONE_NEWUSER));
	if (!strcmp(p, "setns")) return verdict(setns(open("/proc/self/ns/net", O_RDONLY), 0));
	if (!strcmp(p, "clone-newuser")) {
		long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0) _exit(0);
		if (pid > 0) waitpid(pid, NULL, 0);
		return verdict(pid);
	}
	if (!strcmp(p, "clone3")) {
		uint64_t args[11] = { CLONE_NEWUSER, 0, 0, 0, SIGCHLD };
		long pid = syscall(SYS_clone3, args, 88);
		if (pid == 0) _exit(0);
		if (pid > 0) waitpid(pid, NULL, 0);
		return verdict(pid);
	}
	if (!strcmp(p, "keyctl")) return verdict(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	if (!strcmp(p, "add_key")) return verdict(syscall(SYS_add_key, "user", "tsjail", "x", 1, KEY_SPEC_PROCESS_KEYRING));
	if (!strcmp(p, "bpf")) return verdict(syscall(SYS_bpf, 0, NULL, 0));
	if (!strcmp(p, "perf_event_open")) {
		struct perf_event_attr a; memset(&a, 0, sizeof a); a.size = sizeof a; a.type = PERF_TYPE_SOFTWARE; a.config = PERF_COUNT_SW_CPU_CLOCK;
		return verdict(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
	}
	if (!strcmp(p, "userfaultfd")) return verdict(syscall(SYS_userfaultfd, 0));
	if (!strcmp(p, "io_uring_setup")) { char params[120] = {0}; return verdict(syscall(SYS_io_uring_setup, 1, params)); }
	if (!strcmp(p, "open_by_handle_at")) { char h[136] = {0}; ((unsigned *)h)[0] = 8; return verdict(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY)); }
	if (!strcmp(p, "init_module")) return verdict(syscall(SYS_init_module, NULL, 0, ""));
	if (!strcmp(p, "kexec_load")) return verdict(syscall(SYS_kexec_load, 0, 0, NULL, 0));
	if (!strcmp(p, "reboot")) return verdict(syscall(SYS_reboot, 0, 0, 0, NULL)); /* bad magic: EINVAL if it got through */
	if (!strcmp(p, "swapon")) return verdict(syscall(SYS_swapon, "/nonexistent", 0));
	if (!strcmp(p, "acct")) return verdict(syscall(SYS_acct, NULL));
	if (!strcmp(p, "syslog")) return verdict(syscall(SYS_syslog, 10, NULL, 0));
	if (!strcmp(p, "personality")) return verdict(personality(ADDR_NO_RANDOMIZE));
	if (!strcmp(p, "tiocsti")) { char c = 'x'; return verdict(syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), &c)); }
	if (!strcmp(p, "tioclinux")) { char c = 0; return verdict(syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX, &c)); }
	if (!strcmp(p, "int80-getpid")) {
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "0"(20L) : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
		return verdict(ret < 0 ? (errno = (int)-ret, -1) : ret);
	}
	if (!strcmp(p, "int80-mount")) {
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "0"(21L), "b"(0L), "c"(0L), "d"(0L) : "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
		return verdict(ret < 0 ? (errno = (int)-ret, -1) : ret);
	}
	if (!strcmp(p, "kill")) return verdict(kill(atoi(arg), 0));
	if (!strcmp(p, "connect")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(arg)) };
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		return verdict(s < 0 ? s : connect(s, (struct sockaddr *)&a, sizeof a));
	}
	if (!strcmp(p, "setuid0")) return verdict(setuid(0));
	if (!strcmp(p, "read")) return verdict(open(arg, O_RDONLY));
	/* vsock's port space is the host's: refused whatever the network namespace (test/network.test.ts). */
	if (!strcmp(p, "vsock")) return verdict(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
	/* Attach the N_TTY line discipline (what a terminal has already); high bits set in cmd for "tiocsetd-high". */
	if (!strcmp(p, "tiocsetd") || !strcmp(p, "tiocsetd-high")) {
		int ldisc = 0;
		return verdict(syscall(SYS_ioctl, 0, (unsigned long)TIOCSETD | (p[8] ? 1UL << 32 : 0), &ldisc));
	}
	fprintf(stderr, "unknown probe %s\n", p);
	return 2;
}
