/*
 * tsjail's helper: the syscalls that must happen in the child between clone and execve.
 * Called from Node through koffi. It takes a flat spec that TypeScript fills, performs the
 * steps in a fixed order, and reports the first failure (step, errno) to the parent through a
 * close-on-exec pipe. No policy logic lives here, and nothing allocates after clone.
 *
 * Process layout: Node --clone(new namespaces)--> init --fork--> command
 * `init` is PID 1 of the new PID namespace: it forwards signals to the command, reaps, and
 * exits with the command's status (128+N for a signal). Without a new PID namespace the child
 * execs the command itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Steps, in order; the numbers are shared with src/jail/helper.ts. */
enum step {
	STEP_PIPE = 1, STEP_CLONE, STEP_PARENT_DEATH, STEP_SETGROUPS_DENY, STEP_UID_MAP, STEP_GID_MAP,
	STEP_MOUNT_PRIVATE, STEP_BIND, STEP_FILESYSTEM, STEP_ROOT_BIND, STEP_PIVOT_ROOT, STEP_OLD_ROOT,
	STEP_PROC, STEP_DEV, STEP_REMOUNT_RO, STEP_HOSTNAME, STEP_FORK, STEP_SETSID, STEP_STDIO, STEP_RLIMIT,
	STEP_CHDIR, STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_CAPS, STEP_NO_NEW_PRIVS, STEP_SECCOMP,
	STEP_EXEC, STEP_CGROUP, STEP_OVERLAY, STEP_LATE_LIBRARY, STEP_SYSCTL, STEP_MASK, STEP_READONLY_PATH, STEP_JOIN_NS,
	STEP_LISTENER = 100, /* not a failure: "the listener will be fd N" */
};

/* A syscall number no ABI uses: the command's first call under a listener, answered by tsjail
 * once it holds the listener (src/jail/supervisor.ts uses the same number). */
#define HANDSHAKE_NR 0x3ff7a11

/* --late: where the command finds the preload library (src/jail/late.ts). */
#define LATE_LIBRARY_FD 4
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define MAX_STRINGS 65536
#define MAX_MOUNTS 256

/* The spec, parsed in the parent (before clone) into these fixed arrays. */
/* kind 0: bind src (a host path) on dst, then remount with `flags` if any;
 * kind 1: mount a filesystem of type src on dst with `flags` and `data`. */
struct mount_spec { uint32_t kind, flags; const char *src, *dst, *data; };

static struct {
	uint32_t clone_flags, deny_setgroups;
	/* A new user namespace's maps ("inside outside count" lines), written by the parent. */
	const char *uid_map, *gid_map;
	uint32_t mount_proc, mount_dev, readonly_root, set_user, uid, gid, ngroups;
	/* Capabilities to keep in each set, as bit masks; all others are dropped. */
	uint64_t cap_bounding, cap_permitted, cap_effective, cap_inheritable, cap_ambient;
	uint32_t no_new_privs, die_with_parent, new_session, parent_pid, nrlimits, notify;
	const char *path, *hostname, *root, *cwd, *filter;
	/* Root overlay: a persistent upper directory, or a tmpfs of overlay_size bytes. */
	const char *overlay_upper, *overlay_size;
	uint32_t filter_len;
	/* --late: the preload library, handed to the command as a sealed memfd. */
	const char *late_library;
	uint32_t late_library_len;
	const char *argv[MAX_STRINGS + 1], *envp[MAX_STRINGS + 1], *search[MAX_STRINGS + 1], *cgroups[65];
	gid_t groups[256];
	int rlimit_res[64];
	uint64_t rlimit_val[64];
	struct mount_spec mounts[MAX_MOUNTS];
	uint32_t nmounts;
	/* Namespaces to join: CLONE_NEW* type and path, opened by the parent before clone. */
	const char *join_paths[9];
	uint32_t join_types[8], njoin;
	int join_fds[8];
	/* After /proc: sysctls ("kernel.shmmax=..."), paths to hide, paths to make read-only. */
	const char *sysctl[MAX_MOUNTS + 1], *masked[MAX_MOUNTS + 1], *readonly_paths[MAX_MOUNTS + 1];
} S;

static int err_fd = -1;


static void report(int step, int err) {
	int msg[2] = { step, err };
	if (err_fd >= 0 && write(err_fd, msg, sizeof msg) < 0) { /* the parent is gone */ }
}

static void fail(int step) {
	report(step, errno);
	_exit(125);
}

static int write_file(const char *path, const char *data) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = write(fd, data, strlen(data));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(data) ? 0 : -1;
}

static char *fmt_u32(char *p, uint32_t v) {
	char tmp[12];
	int n = 0;
	do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (n) *p++ = tmp[--n];
	return p;
}

/* Parent side: writes the child's id maps (the parent has the capabilities the kernel wants
 * for any mapping it may make); -1 with *step set on failure. */
static int map_ids(pid_t pid, int *step) {
	char path[64] = "/proc/", *p = fmt_u32(path + 6, (uint32_t)pid);
	strcpy(p, "/setgroups");
	if (S.deny_setgroups && write_file(path, "deny") && errno != ENOENT) { *step = STEP_SETGROUPS_DENY; return -1; }
	strcpy(p, "/uid_map");
	if (write_file(path, S.uid_map)) { *step = STEP_UID_MAP; return -1; }
	strcpy(p, "/gid_map");
	if (write_file(path, S.gid_map)) { *step = STEP_GID_MAP; return -1; }
	return 0;
}

static const char *under(char *buf, size_t size, const char *root, const char *path) {
	size_t r = root ? strlen(root) : 0, p = strlen(path);
	if (r + p + 1 > size) { errno = ENAMETOOLONG; return NULL; }
	if (r) memcpy(buf, root, r);
	memcpy(buf + r, path, p + 1);
	return buf;
}

static void mkdirs(const char *path) {
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof buf) return;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == 0) {
			char c = buf[i];
			buf[i] = 0;
			mkdir(buf, 0755);
			buf[i] = c;
		}
	}
}

/* Bind a file or directory, creating the mount point. */
/* The per-mount flags `path` is mounted with: a bind remount must keep them (in a user
 * namespace the kernel refuses to drop locked ones, and dropping noexec would surprise). */
static unsigned long mount_flags_of(const char *path) {
	struct statvfs sv;
	unsigned long flags = 0;
	if (statvfs(path, &sv)) return 0;
	if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
	return flags;
}

/* Binds src on dst (creating dst like src), then applies `flags` (MS_RDONLY, MS_NOSUID...). */
static int bind_at(const char *src, const char *dst, unsigned long flags) {
	struct stat st;
	if (stat(src, &st)) return -1;
	if (S_ISDIR(st.st_mode)) mkdirs(dst);
	else {
		char parent[4096];
		size_t n = strlen(dst);
		if (n < sizeof parent) {
			memcpy(parent, dst, n + 1);
			char *slash = strrchr(parent, '/');
			if (slash && slash != parent) { *slash = 0; mkdirs(parent); }
		}
		int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) close(fd);
	}
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) return -1;
	if (flags && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags | mount_flags_of(dst), NULL)) return -1;
	return 0;
}

static const char *const DEVICES[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

/* A fresh /dev (tmpfs) under root with the host's basic devices and the usual links. */
static void populate_dev(const char *root) {
	char a[4096], b[4096];
	/* Hold the host's devices by O_PATH fds first: the new /dev may cover the old one. */
	int held[sizeof DEVICES / sizeof *DEVICES];
	for (int i = 0; DEVICES[i]; i++) {
		const char *src = under(b, sizeof b, "/dev/", DEVICES[i]);
		held[i] = src ? open(src, O_PATH | O_CLOEXEC) : -1;
	}
	const char *dev = under(a, sizeof a, root, "/dev");
	mkdirs(dev);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")) fail(STEP_DEV);
	for (int i = 0; DEVICES[i]; i++) {
		if (held[i] < 0) continue;
		char src[32] = "/proc/self/fd/", *q = fmt_u32(src + 14, (uint32_t)held[i]);
		*q = 0;
		if (!under(b, sizeof b, dev, "/") || strlen(b) + strlen(DEVICES[i]) >= sizeof b) fail(STEP_DEV);
		strcat(b, DEVICES[i]);
		if (bind_at(src, b, 0)) fail(STEP_DEV);
		close(held[i]);
	}
	static const char *const LINKS[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },
	};
	for (size_t i = 0; i < sizeof LINKS / sizeof *LINKS; i++) {
		if (!under(b, sizeof b, dev, "/") || strlen(b) + strlen(LINKS[i][0]) >= sizeof b) fail(STEP_DEV);
		strcat(b, LINKS[i][0]);
		if (symlink(LINKS[i][1], b)) fail(STEP_DEV);
	}
	/* A private devpts instance, so that programs can open pseudo-terminals, and /dev/shm. */
	if (!under(b, sizeof b, dev, "/pts")) fail(STEP_DEV);
	mkdir(b, 0755);
	if (mount("devpts", b, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")) fail(STEP_DEV);
	if (!under(b, sizeof b, dev, "/shm")) fail(STEP_DEV);
	mkdir(b, 01777);
	chmod(b, 01777);
}

/* "net.ipv4.ip_forward=1" → /proc/sys/net/ipv4/ip_forward (TypeScript allows only namespaced ones). */
static void set_sysctls(void) {
	for (int i = 0; S.sysctl[i]; i++) {
		char path[4096] = "/proc/sys/";
		const char *eq = strchr(S.sysctl[i], '=');
		size_t n = eq ? (size_t)(eq - S.sysctl[i]) : 0;
		if (!eq || n + 11 > sizeof path) { errno = EINVAL; fail(STEP_SYSCTL); }
		for (size_t j = 0; j < n; j++) path[10 + j] = S.sysctl[i][j] == '.' ? '/' : S.sysctl[i][j];
		path[10 + n] = 0;
		if (write_file(path, eq + 1)) fail(STEP_SYSCTL);
	}
}

/* OCI maskedPaths (a directory gets an empty read-only tmpfs, a file /dev/null) and
 * readonlyPaths (bound read-only onto themselves); paths that do not exist are skipped. */
static void protect_paths(void) {
	for (int i = 0; S.masked[i]; i++) {
		struct stat st;
		if (stat(S.masked[i], &st)) { if (errno == ENOENT) continue; fail(STEP_MASK); }
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", S.masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")) fail(STEP_MASK);
		} else {
			/* The jail's own /dev/null: a mount held from before pivot_root is detached by now. */
			if (mount("/dev/null", S.masked[i], NULL, MS_BIND, NULL)) fail(STEP_MASK);
		}
	}
	for (int i = 0; S.readonly_paths[i]; i++) {
		const char *p = S.readonly_paths[i];
		if (access(p, F_OK)) { if (errno == ENOENT) continue; fail(STEP_READONLY_PATH); }
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL)) fail(STEP_READONLY_PATH);
		if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags_of(p), NULL)) fail(STEP_READONLY_PATH);
	}
}

static void setup_filesystem(void) {
	char a[4096];
	if (!(S.clone_flags & CLONE_NEWNS)) return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) fail(STEP_MOUNT_PRIVATE);
	const char *root = S.root;
	if (root && (S.overlay_upper || S.overlay_size)) {
		/* The new root becomes an overlay: DIR below, writes above, staged on a private tmpfs. */
		char opts[8192], upper[4096], work[4096], lower[32] = "/proc/self/fd/", held_upper[32] = "/proc/self/fd/";
		const char *stage = "/tmp";
		char size_opt[64] = "mode=0755";
		if (S.overlay_size && strlen(S.overlay_size) < 40) { strcpy(size_opt, "mode=0755,size="); strcat(size_opt, S.overlay_size); }
		/* Hold DIR and the upper directory first: the staging tmpfs may cover them. */
		int lower_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (lower_fd < 0) fail(STEP_OVERLAY);
		*fmt_u32(lower + 14, (uint32_t)lower_fd) = 0;
		const char *base = stage;
		if (S.overlay_upper) {
			int upper_fd = open(S.overlay_upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (upper_fd < 0) fail(STEP_OVERLAY);
			*fmt_u32(held_upper + 14, (uint32_t)upper_fd) = 0;
			base = held_upper;
		}
		if (mount("tsjail", stage, "tmpfs", MS_NOSUID | MS_NODEV, size_opt)) fail(STEP_OVERLAY);
		mkdir("/tmp/root", 0755);
		if (!under(upper, sizeof upper, base, "/upper") || !under(work, sizeof work, base, "/work")) fail(STEP_OVERLAY);
		mkdir(upper, 0755);
		mkdir(work, 0755);
		root = lower;
		if (strlen(root) + strlen(upper) + strlen(work) + 40 > sizeof opts) { errno = ENAMETOOLONG; fail(STEP_OVERLAY); }
		strcpy(opts, "lowerdir="); strcat(opts, root); strcat(opts, ",upperdir="); strcat(opts, upper);
		strcat(opts, ",workdir="); strcat(opts, work);
		if (mount("overlay", "/tmp/root", "overlay", 0, opts)) fail(STEP_OVERLAY);
		root = "/tmp/root";
	}
	if (root && mount(root, root, NULL, MS_BIND | MS_REC, NULL)) fail(STEP_ROOT_BIND);
	/* /dev first: mounts the caller asks for (a /dev/pts, a /dev/shm) go on top of it. */
	if (S.mount_dev) populate_dev(root);
	for (uint32_t i = 0; i < S.nmounts; i++) {
		struct mount_spec *m = &S.mounts[i];
		const char *dst = under(a, sizeof a, root, m->dst);
		if (!dst) fail(m->kind == 0 ? STEP_BIND : STEP_FILESYSTEM);
		if (m->kind == 0) {
			if (bind_at(m->src, dst, m->flags)) fail(STEP_BIND);
		} else {
			mkdirs(dst);
			if (mount(m->src, dst, m->src, m->flags, m->data)) fail(STEP_FILESYSTEM);
		}
	}
	/* /proc before pivot_root: in a user namespace the kernel mounts a new proc only while
	 * another one is fully visible, and the host's goes with the old root. */
	if (S.mount_proc) {
		const char *proc = under(a, sizeof a, root, "/proc");
		if (!proc) fail(STEP_PROC);
		mkdir(proc, 0555);
		if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) fail(STEP_PROC);
	}
	if (root) {
		if (chdir(root)) fail(STEP_PIVOT_ROOT);
		if (syscall(SYS_pivot_root, ".", ".")) fail(STEP_PIVOT_ROOT);
		if (umount2(".", MNT_DETACH)) fail(STEP_OLD_ROOT);
		if (chdir("/")) fail(STEP_OLD_ROOT);
	}
	set_sysctls();
	protect_paths();
	if (S.readonly_root && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags_of("/"), NULL)) fail(STEP_REMOUNT_RO);
}

/* Node's stdio may be non-blocking (a flag of the open file description, shared with Node):
 * give the command its own description of the same file instead of changing Node's. */
/* Only stdio and the report pipe (moved to fd 3) stay open: an inherited directory fd would
 * lead straight out of a new root, and the count must fit the command's RLIMIT_NOFILE. */
static void close_other_fds(void) {
	if (err_fd != 3) {
		if (dup3(err_fd, 3, O_CLOEXEC) < 0) fail(STEP_STDIO);
		err_fd = 3;
	}
	if (syscall(SYS_close_range, 4, ~0U, 0) == 0) return;
	struct rlimit rl;
	int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
	for (int fd = 4; fd < max; fd++) close(fd);
}

/* Puts `bytes` in a sealed memfd at fd `target` that survives execve: the preload library
 * reaches the command this way, never through a path it could write. */
static void hand_over(const char *name, const char *bytes, uint32_t len, int target) {
	int fd = (int)syscall(SYS_memfd_create, name, MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, name, MFD_ALLOW_SEALING);
	if (fd < 0) fail(STEP_LATE_LIBRARY);
	for (uint32_t done = 0; done < len;) {
		ssize_t n = write(fd, bytes + done, len - done);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) fail(STEP_LATE_LIBRARY);
		done += (uint32_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)) fail(STEP_LATE_LIBRARY);
	if (fd != target) {
		if (dup2(fd, target) < 0) fail(STEP_LATE_LIBRARY);
		close(fd);
	}
}

static void prepare_stdio(void) {
	for (int fd = 0; fd <= 2; fd++) {
		int flags = fcntl(fd, F_GETFL);
		if (flags < 0) continue;
		if (flags & O_NONBLOCK) {
			char path[32] = "/proc/self/fd/";
			path[14] = (char)('0' + fd);
			path[15] = 0;
			int nfd = open(path, (flags & O_ACCMODE) | O_NOCTTY);
			if (nfd >= 0) { if (dup2(nfd, fd) < 0) fail(STEP_STDIO); close(nfd); }
		}
		if (fcntl(fd, F_SETFD, 0)) fail(STEP_STDIO);
	}
}

/* Leaves exactly the capabilities of the spec in each set: bounding set first (that needs
 * CAP_SETPCAP, so before any setuid), then permitted/effective/inheritable, then ambient so
 * that they survive execve for a non-root user. */
static void drop_bounding_set(void) {
	for (int cap = 0; cap < 64; cap++) {
		if (S.cap_bounding & (1ULL << cap)) continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) fail(STEP_CAPS);
	}
}

static void set_capabilities(void) {
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int i = 0; i < 2; i++) {
		data[i].permitted = (uint32_t)(S.cap_permitted >> (32 * i));
		data[i].effective = (uint32_t)(S.cap_effective >> (32 * i));
		data[i].inheritable = (uint32_t)(S.cap_inheritable >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data)) fail(STEP_CAPS);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) fail(STEP_CAPS);
	for (int cap = 0; cap < 64; cap++) {
		if ((S.cap_ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)) fail(STEP_CAPS);
	}
}

static void exec_command(void) {
	const char *name = S.path;
	int err = ENOENT;
	if (strchr(name, '/')) {
		execve(name, (char *const *)S.argv, (char *const *)S.envp);
		err = errno;
	} else {
		char buf[4096];
		for (int i = 0; S.search[i]; i++) {
			size_t d = strlen(S.search[i]), n = strlen(name);
			if (d + n + 2 > sizeof buf) continue;
			memcpy(buf, S.search[i], d);
			buf[d] = '/';
			memcpy(buf + d + 1, name, n + 1);
			execve(buf, (char *const *)S.argv, (char *const *)S.envp);
			if (errno != ENOENT && errno != ENOTDIR) err = errno;
		}
	}
	report(STEP_EXEC, err);
	_exit(err == ENOENT ? 127 : 126);
}

/* Everything from here on concerns only the command's process. */
static void become_command(void) {
	if (S.new_session && setsid() < 0) fail(STEP_SETSID);
	prepare_stdio();
	close_other_fds();
	if (S.late_library) hand_over("tsjail-preload", S.late_library, S.late_library_len, LATE_LIBRARY_FD);
	for (uint32_t i = 0; i < S.nrlimits; i++) {
		struct rlimit rl = { S.rlimit_val[i], S.rlimit_val[i] };
		if (setrlimit(S.rlimit_res[i], &rl)) fail(STEP_RLIMIT);
	}
	if (S.cwd && chdir(S.cwd)) fail(STEP_CHDIR);
	drop_bounding_set();
	/* Keep the permitted set across setuid so the kept capabilities can be raised after it. */
	if (S.set_user && S.cap_permitted && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) fail(STEP_CAPS);
	/* Raw syscalls: glibc's wrappers would try to signal the parent's other threads. */
	if (S.set_user) {
		if (syscall(SYS_setgroups, S.ngroups, S.groups)) fail(STEP_SETGROUPS);
		if (syscall(SYS_setresgid, S.gid, S.gid, S.gid)) fail(STEP_SETGID);
		if (syscall(SYS_setresuid, S.uid, S.uid, S.uid)) fail(STEP_SETUID);
	}
	set_capabilities();
	if (S.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail(STEP_NO_NEW_PRIVS);
	if (S.filter) {
		struct sock_fprog prog = { (unsigned short)(S.filter_len / sizeof(struct sock_filter)), (struct sock_filter *)S.filter };
		if (!S.notify) {
			if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) fail(STEP_SECCOMP);
		} else {
			/* Every syscall after this one is filtered, so the listener cannot be sent: tsjail
			 * takes it with pidfd_getfd. Tell it which fd that will be (the lowest free one),
			 * then stop on the handshake call until tsjail holds it. The fd is close-on-exec. */
			int lowest = fcntl(0, F_DUPFD_CLOEXEC, 0);
			if (lowest < 0) fail(STEP_SECCOMP);
			close(lowest);
			report(STEP_LISTENER, lowest);
			long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
			if (fd != lowest) fail(STEP_SECCOMP);
			syscall(HANDSHAKE_NR);
		}
	}
	exec_command();
}

static volatile pid_t command_pid;

static void forward(int sig) {
	if (command_pid > 0) kill(command_pid, sig);
}

/* Numbers from tsjail's own range for helper steps added later (src/jail/helper.ts STEPS). */
#define STEP_INIT_DROP 45

/* PID 1 runs beside the command for the whole run: once the command is forked it keeps
 * nothing the command could borrow. No capabilities in any set (CAP_KILL alone when the
 * command runs as another user, or its signals could not be forwarded), no_new_privs, and
 * not dumpable, so that even as the same uid the command cannot ptrace it or read its
 * /proc/1/mem and environ. Its fds are closed by the caller once the report pipe is done. */
static void drop_init_privileges(pid_t command) {
	uint64_t keep = S.set_user && S.uid != (uint32_t)getuid() ? 1ULL << CAP_KILL : 0;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	data[0].permitted = data[0].effective = (uint32_t)keep;
	int ok = 1;
	for (int cap = 0; cap < 64 && ok; cap++) {
		if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) ok = 0;
	}
	if (ok && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) ok = 0;
	if (ok && syscall(SYS_capset, &hdr, data)) ok = 0;
	if (ok && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) ok = 0;
	if (ok && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) ok = 0;
	if (!ok) {
		report(STEP_INIT_DROP, errno);
		kill(command, SIGKILL);
		_exit(125);
	}
}

/* PID 1 of the jail: forward signals, reap everything, exit with the command's status. */
static void run_init(void) {
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) fail(STEP_FORK);
	if (pid == 0) {
		for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) signal(forwarded[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		become_command();
	}
	command_pid = pid;
	drop_init_privileges(pid);
	close(err_fd);
	err_fd = -1;
	/* PID 1 needs no fd at all: not even stdio (it never writes). */
	if (syscall(SYS_close_range, 0, ~0U, 0)) for (int fd = 0; fd < 65536; fd++) close(fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (;;) {
		int status;
		pid_t done = waitpid(-1, &status, __WALL);
		if (done < 0 && errno == EINTR) continue;
		if (done < 0) _exit(125);
		if (done == pid) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

/* Whether an id map ("inside outside count" lines) maps id 0 inside. */
static int maps_id_zero(const char *map) {
	for (const char *line = map; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char *end;
		unsigned long inside = strtoul(line, &end, 10);
		if (end != line && inside == 0) return 1;
	}
	return 0;
}

/* Parent side: opens the namespaces to join (paths are the caller's, read before the jail exists). */
static int open_joins(int32_t *result) {
	for (uint32_t i = 0; i < S.njoin; i++) {
		S.join_fds[i] = open(S.join_paths[i], O_RDONLY | O_CLOEXEC);
		if (S.join_fds[i] < 0) {
			result[0] = STEP_JOIN_NS; result[1] = errno;
			while (i--) close(S.join_fds[i]);
			return -1;
		}
	}
	return 0;
}

static void close_joins(void) {
	for (uint32_t i = 0; i < S.njoin; i++) close(S.join_fds[i]);
}

static void child_main(int maps_written) {
	if (S.uid_map) {
		/* Nothing is done as an unmapped id: wait until the parent has written the maps. */
		char byte;
		ssize_t n;
		do n = read(maps_written, &byte, 1); while (n < 0 && errno == EINTR);
		if (n != 1) _exit(125);
		close(maps_written);
		/* Become the namespace's root if the maps have one, so that files the jail creates
		 * (mount points in a fresh tmpfs) have a mapped owner; capabilities in the namespace stay. */
		if (maps_id_zero(S.uid_map) && maps_id_zero(S.gid_map)) {
			if (!S.deny_setgroups && syscall(SYS_setgroups, 0, NULL)) fail(STEP_SETGROUPS);
			if (syscall(SYS_setresgid, 0, 0, 0)) fail(STEP_SETGID);
			if (syscall(SYS_setresuid, 0, 0, 0)) fail(STEP_SETUID);
		}
	}
	if (S.die_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) fail(STEP_PARENT_DEATH);
		/* In a new PID namespace the parent is outside it and getppid() is 0. */
		pid_t ppid = getppid();
		if (ppid != 0 && (uint32_t)ppid != S.parent_pid) _exit(125);
	}
	for (uint32_t i = 0; i < S.njoin; i++) if (setns(S.join_fds[i], (int)S.join_types[i])) fail(STEP_JOIN_NS);
	/* Join the jail's cgroups first, so that everything the jail starts is counted. */
	for (int i = 0; S.cgroups[i]; i++) if (write_file(S.cgroups[i], "0")) fail(STEP_CGROUP);
	setup_filesystem();
	if (S.hostname && sethostname(S.hostname, strlen(S.hostname))) fail(STEP_HOSTNAME);
	if (S.clone_flags & CLONE_NEWPID) run_init();
	become_command();
}

/* Reads a string list at *p: u32 count, then NUL-terminated strings. */
static const uint8_t *strings(const uint8_t *p, const uint8_t *end, const char **out, uint32_t max, uint32_t *count) {
	uint32_t n;
	if (p + 4 > end) return NULL;
	memcpy(&n, p, 4);
	p += 4;
	if (n > max) return NULL;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *z = memchr(p, 0, (size_t)(end - p));
		if (!z) return NULL;
		out[i] = (const char *)p;
		p = z + 1;
	}
	out[n] = NULL;
	if (count) *count = n;
	return p;
}

static const uint8_t *u32s(const uint8_t *p, const uint8_t *end, uint32_t *out, uint32_t n) {
	if (p + 4 * (size_t)n > end) return NULL;
	memcpy(out, p, 4 * (size_t)n);
	return p + 4 * (size_t)n;
}

/* An optional string: u32 length+1 (0 = absent), then the bytes and a NUL. */
static const uint8_t *opt_string(const uint8_t *p, const uint8_t *end, const char **out) {
	uint32_t n;
	if (!u32s(p, end, &n, 1)) return NULL;
	p += 4;
	if (n == 0) { *out = NULL; return p; }
	if (p + n > end || p[n - 1] != 0) return NULL;
	*out = (const char *)p;
	return p + n;
}

/* Reads a byte string at *p: u32 length, then the bytes. */
static const uint8_t *blob(const uint8_t *p, const uint8_t *end, const char **out, uint32_t *len) {
	if (!(p = u32s(p, end, len, 1)) || (size_t)(end - p) < *len) return NULL;
	*out = *len ? (const char *)p : NULL;
	return p + *len;
}

static int parse(const uint8_t *p, size_t len) {
	const uint8_t *end = p + len;
	uint32_t head[15], caps[10];
	memset(&S, 0, sizeof S);
	if (!(p = u32s(p, end, head, 15))) return -1;
	if (!(p = u32s(p, end, caps, 10))) return -1;
	uint64_t *sets[5] = { &S.cap_bounding, &S.cap_permitted, &S.cap_effective, &S.cap_inheritable, &S.cap_ambient };
	for (int i = 0; i < 5; i++) *sets[i] = caps[2 * i] | ((uint64_t)caps[2 * i + 1] << 32);
	S.clone_flags = head[0]; S.deny_setgroups = head[1]; S.mount_proc = head[2]; S.mount_dev = head[3];
	S.readonly_root = head[4]; S.set_user = head[5]; S.uid = head[6]; S.gid = head[7]; S.ngroups = head[8];
	S.no_new_privs = head[9]; S.die_with_parent = head[10]; S.new_session = head[11]; S.parent_pid = head[12];
	S.nrlimits = head[13]; S.notify = head[14];
	if (S.ngroups > 256 || S.nrlimits > 64) return -1;
	if (!(p = u32s(p, end, (uint32_t *)S.groups, S.ngroups))) return -1;
	for (uint32_t i = 0; i < S.nrlimits; i++) {
		uint32_t r[3];
		if (!(p = u32s(p, end, r, 3))) return -1;
		S.rlimit_res[i] = (int)r[0];
		S.rlimit_val[i] = ((uint64_t)r[2] << 32) | r[1];
	}
	if (!(p = opt_string(p, end, &S.path)) || !S.path) return -1;
	if (!(p = opt_string(p, end, &S.hostname))) return -1;
	if (!(p = opt_string(p, end, &S.root))) return -1;
	if (!(p = opt_string(p, end, &S.cwd))) return -1;
	if (!(p = opt_string(p, end, &S.overlay_upper))) return -1;
	if (!(p = opt_string(p, end, &S.overlay_size))) return -1;
	if (!(p = opt_string(p, end, &S.uid_map))) return -1;
	if (!(p = opt_string(p, end, &S.gid_map))) return -1;
	if (!S.uid_map != !S.gid_map) return -1;
	if (!(p = strings(p, end, S.argv, MAX_STRINGS, NULL))) return -1;
	if (!(p = strings(p, end, S.envp, MAX_STRINGS, NULL))) return -1;
	if (!(p = strings(p, end, S.search, MAX_STRINGS, NULL))) return -1;
	if (!(p = u32s(p, end, &S.nmounts, 1)) || S.nmounts > MAX_MOUNTS) return -1;
	for (uint32_t i = 0; i < S.nmounts; i++) {
		uint32_t k[2];
		if (!(p = u32s(p, end, k, 2))) return -1;
		S.mounts[i].kind = k[0];
		S.mounts[i].flags = k[1];
		if (!(p = opt_string(p, end, &S.mounts[i].src)) || !S.mounts[i].src) return -1;
		if (!(p = opt_string(p, end, &S.mounts[i].dst)) || !S.mounts[i].dst) return -1;
		if (!(p = opt_string(p, end, &S.mounts[i].data))) return -1;
	}
	if (!(p = strings(p, end, S.cgroups, 64, NULL))) return -1;
	if (!(p = strings(p, end, S.join_paths, 8, &S.njoin))) return -1;
	if (!(p = u32s(p, end, S.join_types, S.njoin))) return -1;
	if (!(p = strings(p, end, S.sysctl, MAX_MOUNTS, NULL))) return -1;
	if (!(p = strings(p, end, S.masked, MAX_MOUNTS, NULL))) return -1;
	if (!(p = strings(p, end, S.readonly_paths, MAX_MOUNTS, NULL))) return -1;
	if (!(p = blob(p, end, &S.filter, &S.filter_len)) || S.filter_len % sizeof(struct sock_filter)) return -1;
	if (!(p = blob(p, end, &S.late_library, &S.late_library_len))) return -1;
	return p == end ? 0 : -1;
}

/* The command's process: init's first child when there is a PID namespace. */
static pid_t command_of(pid_t init) {
	if (!(S.clone_flags & CLONE_NEWPID)) return init;
	char path[64] = "/proc/", *p = fmt_u32(path + 6, (uint32_t)init);
	memcpy(p, "/task/", 6); p = fmt_u32(p + 6, (uint32_t)init);
	memcpy(p, "/children", 10);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	char buf[32] = {0};
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 ? (pid_t)strtol(buf, NULL, 10) : -1;
}

/* pidfd_getfd the listener the command is about to create as `fd`; -errno on failure. */
static int take_listener(pid_t init, int fd) {
	pid_t cmd = command_of(init);
	if (cmd <= 0) return -ESRCH;
	int pidfd = (int)syscall(SYS_pidfd_open, cmd, 0);
	if (pidfd < 0) return -errno;
	int got = -EBADF;
	for (int i = 0; i < 10000; i++) {
		got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (got >= 0) break;
		got = -errno;
		if (errno != EBADF) break;
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
	}
	close(pidfd);
	return got;
}

/*
 * Starts a jailed command. Returns the pid of the jail's first process, or -1 with
 * result[0] = the failed step and result[1] = its errno. Blocks until the command has been
 * exec'd or has failed: run it on a worker thread (koffi's async call).
 */
int tsjail_spawn(const uint8_t *spec, size_t len, int32_t *result) {
	static uint8_t copy[1 << 24];
	int pipefd[2];
	int maps_pipe[2] = { -1, -1 };
	result[0] = result[1] = 0;
	result[2] = result[3] = -1;
	if (len > sizeof copy) { result[0] = STEP_PIPE; result[1] = E2BIG; return -1; }
	memcpy(copy, spec, len);
	if (parse(copy, len)) { result[0] = STEP_PIPE; result[1] = EINVAL; return -1; }
	if (open_joins(result)) return -1;
	if (pipe2(pipefd, O_CLOEXEC)) { result[0] = STEP_PIPE; result[1] = errno; close_joins(); return -1; }
	if (S.uid_map && pipe2(maps_pipe, O_CLOEXEC)) {
		result[0] = STEP_PIPE; result[1] = errno;
		close(pipefd[0]); close(pipefd[1]); close_joins();
		return -1;
	}
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | (S.clone_flags & ~0xffu), 0, 0, 0, 0);
	if (pid < 0) {
		result[0] = STEP_CLONE; result[1] = errno;
		close(pipefd[0]); close(pipefd[1]); close_joins();
		for (int i = 0; i < 2; i++) if (maps_pipe[i] >= 0) close(maps_pipe[i]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		err_fd = pipefd[1];
		if (maps_pipe[1] >= 0) close(maps_pipe[1]);
		child_main(maps_pipe[0]);
		_exit(125);
	}
	close(pipefd[1]);
	close_joins();
	if (S.uid_map) {
		close(maps_pipe[0]);
		int step = 0;
		if (map_ids(pid, &step) || write(maps_pipe[1], "m", 1) != 1) {
			result[0] = step ? step : STEP_PIPE; result[1] = errno;
			close(maps_pipe[1]); close(pipefd[0]);
			kill(pid, SIGKILL);
			int status; while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
			return -1;
		}
		close(maps_pipe[1]);
	}

	int msg[2];
	ssize_t n;
	do n = read(pipefd[0], msg, sizeof msg); while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof msg && msg[0] == STEP_LISTENER) {
		/* Take the command's listener; the exec outcome is read later (tsjail_exec_result). */
		result[2] = take_listener(pid, msg[1]);
		result[3] = pipefd[0];
		if (result[2] < 0) { kill(pid, SIGKILL); result[0] = STEP_SECCOMP; result[1] = -result[2]; close(pipefd[0]);
			int status; while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {} return -1; }
		return pid;
	}
	close(pipefd[0]);
	if (n == (ssize_t)sizeof msg) {
		result[0] = msg[0]; result[1] = msg[1];
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
		return -1;
	}
	return pid;
}

/* Waits for the exec outcome on the pipe from tsjail_spawn: 0 = exec'd, 1 = failed with
 * result[0] = step, result[1] = errno. Closes the pipe. */
int tsjail_exec_result(int fd, int32_t *result) {
	int msg[2];
	ssize_t n;
	do n = read(fd, msg, sizeof msg); while (n < 0 && errno == EINTR);
	close(fd);
	if (n == (ssize_t)sizeof msg) { result[0] = msg[0]; result[1] = msg[1]; return 1; }
	return 0;
}

/* One seccomp notification, flattened for JavaScript: id, pid, nr, arch, ip, args[6]. */
struct flat_notif { uint64_t id; uint32_t pid; int32_t nr; uint32_t arch; uint32_t pad; uint64_t ip; uint64_t args[6]; };

/* Waits up to timeout_ms for a notification. Returns 1 with *out filled, 0 on timeout,
 * -ESRCH when no process uses the filter any more, or -errno. */
int tsjail_notif_recv(int fd, struct flat_notif *out, int timeout_ms) {
	struct pollfd p = { fd, POLLIN, 0 };
	int r = poll(&p, 1, timeout_ms);
	if (r < 0) return errno == EINTR ? 0 : -errno;
	if (r == 0) return 0;
	if (!(p.revents & POLLIN)) return -ESRCH;
	struct seccomp_notif n;
	memset(&n, 0, sizeof n);
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &n)) return errno == ENOENT || errno == EINTR ? 0 : -errno;
	out->id = n.id; out->pid = n.pid; out->nr = n.data.nr; out->arch = n.data.arch; out->pad = 0;
	out->ip = n.data.instruction_pointer;
	for (int i = 0; i < 6; i++) out->args[i] = n.data.args[i];
	return 1;
}

/* Answers a notification: the call fails with `error` (an errno), or runs (`cont` = 1). */
int tsjail_notif_send(int fd, uint64_t id, int error, int cont) {
	struct seccomp_notif_resp r;
	memset(&r, 0, sizeof r);
	r.id = id;
	r.error = cont ? 0 : -error;
	r.flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r) ? -errno : 0;
}

int tsjail_close(int fd) {
	return close(fd) ? -errno : 0;
}

/* Waits for a process; returns its raw wait status, or -errno. */
int tsjail_wait(int pid) {
	int status;
	for (;;) {
		if (waitpid(pid, &status, __WALL) >= 0) return status;
		if (errno != EINTR) return -errno;
	}
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef PIDFD_SIGNAL_THREAD_GROUP
#define PIDFD_SIGNAL_THREAD_GROUP (1UL << 1)
#endif

/* The thread group of thread `tid` (tsjail's PID namespace), from /proc/TID/status; -1 if gone. */
static pid_t tgid_of(pid_t tid) {
	char path[64] = "/proc/", *p = fmt_u32(path + 6, (uint32_t)tid);
	memcpy(p, "/status", 8);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	buf[n] = 0;
	const char *line = strstr(buf, "\nTgid:");
	return line ? (pid_t)strtol(line + 6, NULL, 10) : -1;
}

/*
 * Kills the process whose thread `tid` is stopped in notification `id`, as a kill rule would:
 * a pidfd first, then a check that the call still waits (so the pidfd is that process, not a
 * reuse of its number), then SIGKILL to the whole thread group through the pidfd. The thread
 * group cannot lose its number while one of its threads waits in the call. Returns the thread
 * group id, or -errno (-ENOENT: the caller is gone already).
 */
int tsjail_kill_notifier(int listener, uint64_t id, int tid) {
	pid_t tgid = tgid_of(tid);
	if (tgid <= 0) return -ESRCH;
	/* A thread's own pidfd (Linux 6.9+) pins exactly the caller; else the group leader's. */
	unsigned int flags = PIDFD_SIGNAL_THREAD_GROUP;
	int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd < 0 && errno == EINVAL) { pidfd = (int)syscall(SYS_pidfd_open, tgid, 0); flags = 0; }
	if (pidfd < 0 && errno != ESRCH && !ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)) {
		/* No pidfd to be had (EMFILE...): still kill, as the kernel would; SIGKILL to one thread ends the group. */
		return syscall(SYS_tgkill, tgid, tid, SIGKILL) ? -errno : tgid;
	}
	if (pidfd < 0) return -errno;
	int r = 0;
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)) r = -errno;
	else if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, flags)) r = -errno;
	close(pidfd);
	return r ? r : tgid;
}
