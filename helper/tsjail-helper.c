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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <linux/openat2.h>
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
	STEP_IDMAP = 36, STEP_CHANNEL = 37,
	STEP_SECCOMP_VERIFY = 40, STEP_LOOPBACK = 41,
	STEP_LISTENER = 100, /* not a failure: "the listener will be fd N" */
	STEP_MOUNT_BASE = 1000, /* + i: mount i of the spec (its mount point, its tree or the mount) */
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
struct mount_spec { uint32_t kind, flags; const char *src, *dst, *data; int tree; };
#define KIND_MASK 0xff
#define KIND_BIND 0
#define KIND_IDMAP 0x100 /* a bind shown through the jail's id mapping (made by a privileged tsjail) */
#define KIND_HIDE 2 /* a file rule's hide: dst covered where it exists (hide_path) */
#define KIND_NOFOLLOW 0x200 /* a bind whose source is opened without following any symlink */

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
	/* The root's tree (and an overlay's upper directory's), idmapped when root_idmap is set;
	 * root_tmpfs: the root is a fresh tmpfs (--stage). Trees are fds, -1 until made. */
	uint32_t root_idmap, root_tmpfs;
	int root_tree, upper_tree;
	/* Namespaces were joined by the parent (a privileged tsjail with a user namespace). */
	int joined_by_parent;
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

static void fail_mount(uint32_t i) {
	fail(STEP_MOUNT_BASE + (int)i);
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

/* "/proc/self/fd/N": how mount(2) and overlayfs are given a place already resolved to an fd. */
struct fd_path { char s[32]; };
static struct fd_path fd_path(int fd) {
	struct fd_path p = { "/proc/self/fd/" };
	*fmt_u32(p.s + 14, (uint32_t)fd) = 0;
	return p;
}

/* `path` inside the tree at `rootfd`: symlinks and ".." resolve inside it, never out of it. */
static int open_in_root(int rootfd, const char *path) {
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

enum mount_point_kind { MP_DIR, MP_FILE };

/*
 * The mount point `path` inside the tree at `rootfd` as an O_PATH fd, made where missing
 * (directories 0755, an empty file for a file mount). Each component is resolved inside the
 * tree and each missing one is created in its already-resolved parent, so a symlink (even one
 * swapped in meanwhile) can never lead a mount or a created file out of it. A FIFO, socket or
 * device where the mount point goes is refused (ENOTDIR/EINVAL), and opening none of them blocks.
 */
static int mount_point(int rootfd, const char *path, enum mount_point_kind kind) {
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
	memcpy(buf, path, n + 1);
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0) return -1;
	for (size_t start = 0; start < n;) {
		while (start < n && buf[start] == '/') start++;
		if (start >= n) break;
		size_t end = start;
		while (end < n && buf[end] != '/') end++;
		int last = 1;
		for (size_t k = end; k < n; k++) if (buf[k] != '/') { last = 0; break; }
		char saved = buf[end];
		buf[end] = 0;
		const char *name = buf + start;
		if (!strcmp(name, "..")) { close(cur); errno = EINVAL; return -1; }
		int fd = open_in_root(rootfd, buf);
		if (fd < 0 && errno == ENOENT) {
			int made;
			if (!last || kind == MP_DIR) made = mkdirat(cur, name, 0755);
			else {
				made = openat(cur, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (made >= 0) made = close(made);
			}
			/* EEXIST: a dangling symlink (or a race); resolving again says which. */
			if (made && errno != EEXIST) { close(cur); return -1; }
			fd = open_in_root(rootfd, buf);
		}
		close(cur);
		if (fd < 0) return -1;
		cur = fd;
		buf[end] = saved;
		struct stat st;
		if (fstat(cur, &st)) { close(cur); return -1; }
		int want_dir = !last || kind == MP_DIR;
		if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
			close(cur);
			errno = want_dir ? ENOTDIR : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
			return -1;
		}
		start = end;
	}
	return cur;
}

/* MS_* flags of a bind as mount attributes (which only ever add restrictions). */
static uint64_t bind_attrs(uint32_t flags) {
	uint64_t a = 0;
	if (flags & MS_RDONLY) a |= MOUNT_ATTR_RDONLY;
	if (flags & MS_NOSUID) a |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NODEV) a |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOEXEC) a |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NODIRATIME) a |= MOUNT_ATTR_NODIRATIME;
	return a;
}

static int set_attrs(int fd, const char *path, unsigned flags, uint64_t set, uint64_t clr, int userns) {
	struct mount_attr a;
	memset(&a, 0, sizeof a);
	a.attr_set = set;
	a.attr_clr = clr;
	if (userns >= 0) a.userns_fd = (uint64_t)userns;
	return (int)syscall(SYS_mount_setattr, fd, path, flags, &a, sizeof a);
}

/*
 * A detached copy of the tree at `src` (every mount below it included) with the bind's
 * restrictions applied all the way down (a read-only bind is read-only in every submount), and,
 * with `userns` >= 0, shown through that namespace's id mapping (an idmapped mount: the jail's ids
 * write as the host ids they map to). Submounts whose filesystem has no idmapping keep the
 * kernel's overflow ids. Returns the tree's fd or -1.
 */
static int source_tree(const char *src, int nofollow); /* at the end of this file */
static int bind_tree(const char *src, uint32_t flags, int userns, int nofollow) {
	int tree = source_tree(src, nofollow);
	if (tree < 0) return -1;
	if (userns >= 0 && set_attrs(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_IDMAP, 0, userns)
	    && (errno != EINVAL || set_attrs(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_IDMAP, 0, userns))) {
		int saved = errno; close(tree); errno = saved; return -1;
	}
	uint64_t attrs = bind_attrs(flags);
	if (attrs && set_attrs(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, attrs, 0, -1)) {
		int saved = errno; close(tree); errno = saved; return -1;
	}
	return tree;
}

static int attach(int tree, int dst) {
	return (int)syscall(SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int is_dir_fd(int fd) {
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *const DEVICES[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

/* A fresh /dev (tmpfs) in the tree at rootfd with the host's basic devices and the usual links. */
static void populate_dev(int rootfd) {
	/* Hold the host's devices by O_PATH fds first: the new /dev may cover the old one. */
	int held[sizeof DEVICES / sizeof *DEVICES];
	for (int i = 0; DEVICES[i]; i++) {
		char src[32] = "/dev/";
		strcat(src, DEVICES[i]);
		held[i] = open(src, O_PATH | O_CLOEXEC);
	}
	int at = mount_point(rootfd, "/dev", MP_DIR);
	if (at < 0 || mount("tmpfs", fd_path(at).s, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")) fail(STEP_DEV);
	close(at);
	int dev = open_in_root(rootfd, "/dev");
	if (dev < 0) fail(STEP_DEV);
	int devdir = openat(dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devdir < 0) fail(STEP_DEV);
	for (int i = 0; DEVICES[i]; i++) {
		if (held[i] < 0) continue;
		int f = openat(devdir, DEVICES[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f < 0) fail(STEP_DEV);
		close(f);
		int dst = openat(devdir, DEVICES[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct fd_path from = fd_path(held[i]);
		if (dst < 0 || mount(from.s, fd_path(dst).s, NULL, MS_BIND, NULL)) fail(STEP_DEV);
		close(dst);
		close(held[i]);
	}
	static const char *const LINKS[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },
	};
	for (size_t i = 0; i < sizeof LINKS / sizeof *LINKS; i++) if (symlinkat(LINKS[i][1], devdir, LINKS[i][0])) fail(STEP_DEV);
	/* A private devpts instance, so that programs can open pseudo-terminals, and /dev/shm. */
	if (mkdirat(devdir, "pts", 0755)) fail(STEP_DEV);
	int pts = openat(devdir, "pts", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pts < 0 || mount("devpts", fd_path(pts).s, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")) fail(STEP_DEV);
	close(pts);
	if (mkdirat(devdir, "shm", 01777) || fchmodat(devdir, "shm", 01777, 0)) fail(STEP_DEV);
	close(devdir);
	close(dev);
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

/* Makes the mount at `path` read-only all the way down; a path that is no mount point is bound
 * onto itself first. Missing paths are skipped. */
static int make_readonly(const char *path) {
	int root = open("/", O_PATH | O_CLOEXEC);
	if (root < 0) return -1;
	int fd = open_in_root(root, path);
	close(root);
	if (fd < 0) return errno == ENOENT ? 0 : -1;
	int tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	int r = tree < 0 || set_attrs(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0, -1) || attach(tree, fd) ? -1 : 0;
	int saved = errno;
	if (tree >= 0) close(tree);
	close(fd);
	errno = saved;
	return r;
}

/* OCI maskedPaths (a directory gets an empty read-only tmpfs, a file /dev/null) and
 * readonlyPaths (bound read-only onto themselves, submounts too); missing paths are skipped.
 * These run after pivot_root: every path resolves inside the jail. */
static void protect_paths(void) {
	int root = open("/", O_PATH | O_CLOEXEC);
	if (root < 0) fail(STEP_MASK);
	for (int i = 0; S.masked[i]; i++) {
		int fd = open_in_root(root, S.masked[i]);
		if (fd < 0) { if (errno == ENOENT) continue; fail(STEP_MASK); }
		struct fd_path at = fd_path(fd);
		if (is_dir_fd(fd)) {
			if (mount("tmpfs", at.s, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")) fail(STEP_MASK);
		} else {
			/* The jail's own /dev/null: a mount held from before pivot_root is detached by now. */
			if (mount("/dev/null", at.s, NULL, MS_BIND, NULL)) fail(STEP_MASK);
		}
		close(fd);
	}
	close(root);
	for (int i = 0; S.readonly_paths[i]; i++) if (make_readonly(S.readonly_paths[i])) fail(STEP_READONLY_PATH);
}

/* Where a jail with its own root builds it: a private tmpfs over /tmp in the jail's mount
 * namespace (what it covers was opened before). */
#define STAGE "/tmp"
#define STAGED_ROOT "/tmp/root"

static int stage_dir(const char *name) {
	char path[64] = STAGE "/";
	strcat(path, name);
	if (mkdir(path, 0755)) return -1;
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The overlay root: the given root below, writes in DIR/upper (or the staging tmpfs) above. */
static void overlay_root(void) {
	int lower = stage_dir("lower");
	if (lower < 0 || attach(S.root_tree, lower)) fail(STEP_OVERLAY);
	int upper, work;
	if (S.overlay_upper) {
		int base = stage_dir("upper-base");
		if (base < 0 || attach(S.upper_tree, base)) fail(STEP_OVERLAY);
		close(base);
		int held = open(STAGE "/upper-base", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (held < 0) fail(STEP_OVERLAY);
		/* DIR/upper and DIR/work: made if missing, never followed out of DIR. */
		upper = mount_point(held, "upper", MP_DIR);
		work = mount_point(held, "work", MP_DIR);
		close(held);
	} else {
		upper = stage_dir("upper");
		work = stage_dir("work");
	}
	if (upper < 0 || work < 0) fail(STEP_OVERLAY);
	char opts[256] = "lowerdir=" STAGE "/lower,upperdir=";
	strcat(opts, fd_path(upper).s);
	strcat(opts, ",workdir=");
	strcat(opts, fd_path(work).s);
	if (S.clone_flags & CLONE_NEWUSER) strcat(opts, ",userxattr");
	if (mkdir(STAGED_ROOT, 0755) || mount("overlay", STAGED_ROOT, "overlay", 0, opts)) fail(STEP_OVERLAY);
	close(lower); close(upper); close(work);
}

static void hide_path(int rootfd, uint32_t i); /* at the end of this file */
static void seal_hidden(void);
static void setup_filesystem(void) {
	if (!(S.clone_flags & CLONE_NEWNS)) return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) fail(STEP_MOUNT_PRIVATE);
	/* Every bind's tree is taken before anything is mounted over a source (the staging tmpfs,
	 * /dev); a privileged tsjail has made them already (see prepare_trees). */
	for (uint32_t i = 0; i < S.nmounts; i++) {
		struct mount_spec *m = &S.mounts[i];
		if ((m->kind & KIND_MASK) == KIND_BIND && m->tree < 0 && (m->tree = bind_tree(m->src, m->flags, -1, m->kind & KIND_NOFOLLOW)) < 0) fail_mount(i);
	}
	if (S.root && S.root_tree < 0 && (S.root_tree = bind_tree(S.root, 0, -1, 0)) < 0) fail(STEP_ROOT_BIND);
	if (S.overlay_upper && S.upper_tree < 0 && (S.upper_tree = bind_tree(S.overlay_upper, 0, -1, 0)) < 0) fail(STEP_OVERLAY);
	int own_root = S.root || S.root_tmpfs;
	if (own_root) {
		char size_opt[64] = "mode=0700";
		if (S.overlay_size && strlen(S.overlay_size) < 40) { strcat(size_opt, ",size="); strcat(size_opt, S.overlay_size); }
		if (mount("tsjail", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, size_opt)) fail(STEP_ROOT_BIND);
		if (S.overlay_upper || S.overlay_size) overlay_root();
		else if (S.root_tmpfs) {
			if (mkdir(STAGED_ROOT, 0755) || mount("tmpfs", STAGED_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")) fail(STEP_ROOT_BIND);
		} else {
			int at = stage_dir("root");
			if (at < 0 || attach(S.root_tree, at)) fail(STEP_ROOT_BIND);
			close(at);
		}
	}
	int rootfd = open(own_root ? STAGED_ROOT : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) fail(STEP_ROOT_BIND);
	/* Read-only all the way down, before the jail's own mounts go on top of it. */
	if (S.readonly_root && set_attrs(rootfd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0, -1)) fail(STEP_REMOUNT_RO);
	/* /dev first: mounts the caller asks for (a /dev/pts, a /dev/shm) go on top of it. */
	if (S.mount_dev) populate_dev(rootfd);
	for (uint32_t i = 0; i < S.nmounts; i++) {
		struct mount_spec *m = &S.mounts[i];
		if ((m->kind & KIND_MASK) == KIND_HIDE) { hide_path(rootfd, i); continue; }
		int bind = (m->kind & KIND_MASK) == KIND_BIND;
		int at = mount_point(rootfd, m->dst, bind && !is_dir_fd(m->tree) ? MP_FILE : MP_DIR);
		if (at < 0) fail_mount(i);
		if (bind ? attach(m->tree, at) : mount(m->src, fd_path(at).s, m->src, m->flags, m->data)) fail_mount(i);
		close(at);
		if (bind) close(m->tree);
	}
	seal_hidden();
	/* /proc before pivot_root: in a user namespace the kernel mounts a new proc only while
	 * another one is fully visible, and the host's goes with the old root. */
	if (S.mount_proc) {
		int at = mount_point(rootfd, "/proc", MP_DIR);
		if (at < 0 || mount("proc", fd_path(at).s, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) fail(STEP_PROC);
		close(at);
	}
	if (own_root) {
		if (fchdir(rootfd)) fail(STEP_PIVOT_ROOT);
		if (syscall(SYS_pivot_root, ".", ".")) fail(STEP_PIVOT_ROOT);
		if (umount2(".", MNT_DETACH)) fail(STEP_OLD_ROOT);
		if (chdir("/")) fail(STEP_OLD_ROOT);
	}
	close(rootfd);
	set_sysctls();
	protect_paths();
	/* The host's /sys (and the cgroup filesystem in it) is read-only in every jail. */
	if (make_readonly("/sys")) fail(STEP_READONLY_PATH);
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
			/* A directory of PATH the jail may not search hides nothing it could run. */
			if (errno == EACCES && access(S.search[i], X_OK)) continue;
			if (errno != ENOENT && errno != ENOTDIR) err = errno;
		}
	}
	report(STEP_EXEC, err);
	_exit(err == ENOENT ? 127 : 126);
}

/* Everything from here on concerns only the command's process. */
static void verify_filter(void); /* at the end of this file */
static void given_stdio(void); /* at the end of this file */
static void landlock_prepare(void), landlock_restrict(void); /* at the end of this file */
static void take_tty(void); /* at the end of this file */
static void become_command(void) {
	if (S.new_session && setsid() < 0) fail(STEP_SETSID);
	given_stdio();
	take_tty();
	prepare_stdio();
	close_other_fds();
	if (S.late_library) hand_over("tsjail-preload", S.late_library, S.late_library_len, LATE_LIBRARY_FD);
	for (uint32_t i = 0; i < S.nrlimits; i++) {
		struct rlimit rl = { S.rlimit_val[i], S.rlimit_val[i] };
		if (setrlimit(S.rlimit_res[i], &rl)) fail(STEP_RLIMIT);
	}
	if (S.cwd && chdir(S.cwd)) fail(STEP_CHDIR);
	landlock_prepare();
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
	landlock_restrict();
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
		}
		verify_filter();
	}
	exec_command();
}

static volatile pid_t command_pid;

static void forward(int sig) {
	if (command_pid > 0) kill(command_pid, sig);
}

/* Numbers from tsjail's own range for helper steps added later (src/jail/helper.ts STEPS). */
#define STEP_INIT_DROP 45
#define STEP_TTY 46

/* PID 1 runs beside the command for the whole run: once the command is forked it keeps
 * nothing the command could borrow. No capabilities in any set (CAP_KILL alone when the
 * command runs as another user, or its signals could not be forwarded), no_new_privs, and
 * not dumpable, so that even as the same uid the command cannot ptrace it or read its
 * /proc/1/mem and environ. Its fds are closed by the caller once the report pipe is done. */
/* `bounding_if_able` (the keeper, which may hold nothing to drop: rootless, or a root without
 * CAP_SETPCAP in an outer jail): the bounding set only where it can be changed (with
 * no_new_privs nothing is gained from it). */
static void drop_init_privileges(pid_t command, int bounding_if_able) {
	uint64_t keep = S.set_user && S.uid != (uint32_t)getuid() ? 1ULL << CAP_KILL : 0;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int ok = 1, bounding = 1;
	if (bounding_if_able) {
		ok = !syscall(SYS_capget, &hdr, data);
		bounding = ok && (data[0].effective >> CAP_SETPCAP) & 1;
	}
	memset(data, 0, sizeof data);
	data[0].permitted = data[0].effective = (uint32_t)keep;
	for (int cap = 0; cap < 64 && ok && bounding; cap++) {
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
	drop_init_privileges(pid, 0);
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

static void bring_up_loopback(void); /* at the end of this file */
static const uint8_t *parse_landlock(const uint8_t *p, const uint8_t *end); /* at the end of this file */
static const uint8_t *parse_hidden(const uint8_t *p, const uint8_t *end); /* at the end of this file */
static const uint8_t *parse_keeper(const uint8_t *p, const uint8_t *end); /* at the end of this file */
static void run_keeper(void);
static uint32_t keeper_present;
static int section_is(const uint8_t *p, const uint8_t *end, uint32_t tag);
static const uint8_t *parse_stdio(const uint8_t *p, const uint8_t *end); /* at the end of this file */
#define HIDDEN_SECTION_TAG 0x31444948u /* "HID1": parse_hidden */
#define TTY_SECTION_TAG 0x31595454u /* "TTY1": parse_tty */
static const uint8_t *parse_tty(const uint8_t *p, const uint8_t *end); /* at the end of this file */
/* The parent → child channel (a SOCK_SEQPACKET pair): one message per bind tree, an index
 * and the tree's fd, then TREES_DONE. */
#define TREE_ROOT 0xffff0001u
#define TREE_UPPER 0xffff0002u
#define TREE_HIDDEN_GROUP 0xffff0003u /* the fanotify group for hidden reads (hidden_send_group) */
static void hidden_take_group(int fd); /* at the end of this file */
static int hidden_send_group(int chan, int32_t *result);
#define TREES_DONE 0xffffffffu
#define TREE_TTY_MASTER 0xffff0004u /* child to parent: the master of the jail's own pty (make_jail_pty) */
/* --tty (parse_tty): the slave tsjail opened, or a pair to make in the jail. */
#define TTY_IN_JAIL 0xffffffffu
static struct { int fd; int in_jail; } TTY = { -1, 0 };
static void make_jail_pty(int chan); /* at the end of this file */
static int receive_tty_master(int chan);

/* One channel message: the index as its body, room for one fd. */
struct tree_msg {
	uint32_t index;
	struct iovec io;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } c;
	struct msghdr m;
};

static void tree_msg_init(struct tree_msg *t, int with_fd) {
	memset(t, 0, sizeof *t);
	t->io.iov_base = &t->index;
	t->io.iov_len = sizeof t->index;
	t->m.msg_iov = &t->io;
	t->m.msg_iovlen = 1;
	if (with_fd) {
		t->m.msg_control = t->c.buf;
		t->m.msg_controllen = sizeof t->c.buf;
	}
}

static int send_tree(int chan, uint32_t index, int fd) {
	struct tree_msg t;
	tree_msg_init(&t, fd >= 0);
	t.index = index;
	if (fd >= 0) {
		struct cmsghdr *h = CMSG_FIRSTHDR(&t.m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	return sendmsg(chan, &t.m, MSG_NOSIGNAL) == (ssize_t)sizeof t.index ? 0 : -1;
}

/* Child side: takes the trees until TREES_DONE; -1 if the parent went away. */
static int receive_trees(int chan) {
	for (;;) {
		struct tree_msg t;
		tree_msg_init(&t, 1);
		ssize_t n;
		do n = recvmsg(chan, &t.m, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof t.index) return -1;
		if (t.index == TREES_DONE) return 0;
		struct cmsghdr *h = CMSG_FIRSTHDR(&t.m);
		if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
		int fd;
		memcpy(&fd, CMSG_DATA(h), sizeof fd);
		if (t.index == TREE_ROOT) S.root_tree = fd;
		else if (t.index == TREE_UPPER) S.upper_tree = fd;
		else if (t.index == TREE_HIDDEN_GROUP) hidden_take_group(fd);
		else if (t.index < S.nmounts) S.mounts[t.index].tree = fd;
		else return -1;
	}
}

/*
 * Parent side, when tsjail is privileged: the jail's bind trees are made here, where every
 * source is reachable (a root-owned 0700 directory is not from inside a user namespace) and
 * where an idmapped mount may be made (that needs privilege over the filesystem), shown
 * through the jail's own id mapping. -1 with *step set on failure.
 */
static int prepare_trees(pid_t pid, int chan, int *step) {
	int userns = -1;
	if (S.uid_map) {
		char path[64] = "/proc/", *p = fmt_u32(path + 6, (uint32_t)pid);
		strcpy(p, "/ns/user");
		if ((userns = open(path, O_RDONLY | O_CLOEXEC)) < 0) { *step = STEP_IDMAP; return -1; }
	}
	int r = 0;
	for (uint32_t i = 0; i < S.nmounts && !r; i++) {
		struct mount_spec *m = &S.mounts[i];
		if ((m->kind & KIND_MASK) != KIND_BIND) continue;
		int tree = bind_tree(m->src, m->flags, (m->kind & KIND_IDMAP) ? userns : -1, m->kind & KIND_NOFOLLOW);
		if (tree < 0 || send_tree(chan, i, tree)) { *step = STEP_MOUNT_BASE + (int)i; r = -1; }
		if (tree >= 0) close(tree);
	}
	const char *dirs[2] = { S.root, S.overlay_upper };
	const uint32_t which[2] = { TREE_ROOT, TREE_UPPER };
	for (int i = 0; i < 2 && !r; i++) {
		if (!dirs[i]) continue;
		int tree = bind_tree(dirs[i], 0, S.root_idmap ? userns : -1, 0);
		if (tree < 0 || send_tree(chan, which[i], tree)) { *step = i ? STEP_OVERLAY : STEP_ROOT_BIND; r = -1; }
		if (tree >= 0) close(tree);
	}
	int saved = errno;
	if (userns >= 0) close(userns);
	errno = saved;
	return r;
}

/*
 * The jail's cgroup files, opened by the parent before clone (the kernel checks a write by the
 * opener's credentials). A cgroup v1 `tasks` file is written by the child itself, "0": its one
 * thread, which the kernel moves without the global lock whose RCU grace period a cgroup.procs
 * write waits for (milliseconds per jail); the child has no other thread, so it moves whole.
 */
static int cgroup_fds[65];

static int is_tasks_file(const char *path) {
	size_t n = strlen(path);
	return n >= 6 && !strcmp(path + n - 6, "/tasks");
}

static int open_cgroups(int32_t *result) {
	for (int i = 0; S.cgroups[i]; i++) {
		if ((cgroup_fds[i] = open(S.cgroups[i], O_WRONLY | O_CLOEXEC)) < 0) {
			result[0] = STEP_CGROUP; result[1] = errno;
			while (i--) close(cgroup_fds[i]);
			return -1;
		}
	}
	return 0;
}

static void close_cgroups(void) {
	for (int i = 0; S.cgroups[i]; i++) close(cgroup_fds[i]);
}

static int write_fd(int fd, const char *data) {
	return write(fd, data, strlen(data)) == (ssize_t)strlen(data) ? 0 : -1;
}

/* Parent side: puts the child in the jail's cgroup.procs files (see child_main). */
static int join_cgroups(pid_t pid) {
	char num[16];
	*fmt_u32(num, (uint32_t)pid) = 0;
	for (int i = 0; S.cgroups[i]; i++) if (!is_tasks_file(S.cgroups[i]) && write_fd(cgroup_fds[i], num)) return -1;
	return 0;
}

static const char *ns_name(uint32_t type) {
	switch (type) {
	case CLONE_NEWNET: return "net";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWCGROUP: return "cgroup";
	default: return NULL;
	}
}

/*
 * A privileged tsjail with a user namespace joins the namespaces on this thread before clone
 * (the jail's own user namespace has no say over namespaces the host owns) and returns to its
 * own after: `saved` holds them. -1 with errno on failure (everything restored).
 */
static int enter_joins(int *saved) {
	for (uint32_t i = 0; i < S.njoin; i++) {
		char path[64] = "/proc/thread-self/ns/";
		const char *name = ns_name(S.join_types[i]);
		if (!name) { errno = EINVAL; saved[i] = -1; goto undo; }
		strcat(path, name);
		if ((saved[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) goto undo;
		if (setns(S.join_fds[i], (int)S.join_types[i])) { close(saved[i]); saved[i] = -1; goto undo; }
		continue;
	undo: {
			int e = errno;
			while (i--) { setns(saved[i], (int)S.join_types[i]); close(saved[i]); }
			errno = e;
			return -1;
		}
	}
	return 0;
}

static void leave_joins(const int *saved) {
	for (uint32_t i = S.njoin; i--;) {
		/* Failing to return would leave this worker thread in the jail's namespaces. */
		if (setns(saved[i], (int)S.join_types[i])) abort();
		close(saved[i]);
	}
}

static void child_main(int chan) {
	/* Nothing is done before the parent says so: the maps are written (nothing runs as an
	 * unmapped id) and the bind trees it made have arrived. */
	if (receive_trees(chan)) _exit(125);
	if (!TTY.in_jail) close(chan);
	if (S.uid_map) {
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
	if (S.clone_flags & CLONE_NEWNET) bring_up_loopback();
	if (!S.joined_by_parent) for (uint32_t i = 0; i < S.njoin; i++) if (setns(S.join_fds[i], (int)S.join_types[i])) fail(STEP_JOIN_NS);
	/* Join the jail's cgroups first, so that everything the jail starts is counted (a
	 * privileged tsjail has put it in the cgroup.procs files already: its user namespace may not write them). */
	for (int i = 0; S.cgroups[i]; i++) {
		if ((is_tasks_file(S.cgroups[i]) || geteuid() != 0 || !S.uid_map) && write_fd(cgroup_fds[i], "0")) fail(STEP_CGROUP);
		close(cgroup_fds[i]);
	}
	setup_filesystem();
	if (TTY.in_jail) { make_jail_pty(chan); close(chan); }
	if (S.hostname && sethostname(S.hostname, strlen(S.hostname))) fail(STEP_HOSTNAME);
	if (S.clone_flags & CLONE_NEWPID) run_init();
	if (keeper_present) run_keeper();
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
		S.mounts[i].tree = -1;
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
	uint32_t ext[2];
	if (!(p = u32s(p, end, ext, 2))) return -1;
	S.root_idmap = ext[0]; S.root_tmpfs = ext[1];
	S.root_tree = S.upper_tree = -1;
	if (!(p = parse_landlock(p, end))) return -1;
	if (!(p = parse_hidden(p, end))) return -1;
	if (!(p = parse_stdio(p, end))) return -1;
	if (!(p = parse_keeper(p, end))) return -1;
	if (!(p = parse_tty(p, end))) return -1;
	return p == end ? 0 : -1;
}

/* The command's process: init's first child when there is a PID namespace. */
static pid_t command_of(pid_t init) {
	if (!(S.clone_flags & CLONE_NEWPID) && !keeper_present) return init;
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
	/* The command's seccomp call takes tens of microseconds: tried that often, for at most 5 s. */
	struct timespec now, deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 5;
	int got = -EBADF;
	do {
		got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (got >= 0) break;
		got = -errno;
		if (errno != EBADF) break;
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec < deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec));
	close(pidfd);
	return got;
}

/*
 * Starts a jailed command. Returns the pid of the jail's first process, or -1 with
 * result[0] = the failed step and result[1] = its errno. Blocks until the command has been
 * exec'd or has failed: run it on a worker thread (koffi's async call). result has 6 ints: with
 * a hidden-reads section [4] is the fanotify group (hidden_send_group), with a pty made in the
 * jail [5] is its master (make_jail_pty).
 */
int tsjail_spawn(const uint8_t *spec, size_t len, int32_t *result) {
	static uint8_t copy[1 << 24];
	int pipefd[2];
	int chan[2] = { -1, -1 };
	result[0] = result[1] = 0;
	result[2] = result[3] = result[5] = -1;
	if (len > sizeof copy) { result[0] = STEP_PIPE; result[1] = E2BIG; return -1; }
	memcpy(copy, spec, len);
	if (parse(copy, len)) { result[0] = STEP_PIPE; result[1] = EINVAL; return -1; }
	if (open_joins(result)) return -1;
	if (open_cgroups(result)) { close_joins(); return -1; }
	if (pipe2(pipefd, O_CLOEXEC)) { result[0] = STEP_PIPE; result[1] = errno; close_joins(); close_cgroups(); return -1; }
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan)) {
		result[0] = STEP_CHANNEL; result[1] = errno;
		close(pipefd[0]); close(pipefd[1]); close_joins(); close_cgroups();
		return -1;
	}
	int privileged = geteuid() == 0;
	int saved_ns[8];
	S.joined_by_parent = privileged && (S.clone_flags & CLONE_NEWUSER) && S.njoin;
	if (S.joined_by_parent && enter_joins(saved_ns)) {
		result[0] = STEP_JOIN_NS; result[1] = errno;
		close(pipefd[0]); close(pipefd[1]); close(chan[0]); close(chan[1]); close_joins(); close_cgroups();
		return -1;
	}
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | (S.clone_flags & ~0xffu), 0, 0, 0, 0);
	if (pid == 0) {
		close(pipefd[0]);
		err_fd = pipefd[1];
		close(chan[0]);
		child_main(chan[1]);
		_exit(125);
	}
	int clone_errno = errno;
	if (S.joined_by_parent) leave_joins(saved_ns);
	close(chan[1]);
	close(pipefd[1]);
	close_joins();
	if (pid < 0) {
		result[0] = STEP_CLONE; result[1] = clone_errno;
		close(pipefd[0]); close(chan[0]); close_cgroups();
		return -1;
	}
	int step = 0;
	if (privileged && S.uid_map && join_cgroups(pid)) step = STEP_CGROUP;
	int join_errno = errno;
	close_cgroups();
	errno = join_errno;
	if (step || (S.uid_map && map_ids(pid, &step)) || (privileged && prepare_trees(pid, chan[0], &step)) || hidden_send_group(chan[0], result) || send_tree(chan[0], TREES_DONE, -1)) {
		result[0] = step ? step : STEP_CHANNEL; result[1] = errno;
		close(chan[0]); close(pipefd[0]);
		kill(pid, SIGKILL);
		int status; while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
		return -1;
	}
	if (TTY.in_jail) result[5] = receive_tty_master(chan[0]);
	close(chan[0]);

	int msg[2];
	ssize_t n;
	do n = read(pipefd[0], msg, sizeof msg); while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof msg && msg[0] == STEP_LISTENER) {
		/* Take the command's listener; the exec outcome is read later (tsjail_exec_result). */
		result[2] = take_listener(pid, msg[1]);
		result[3] = pipefd[0];
		if (result[2] < 0) {
			/* The command may be gone because its own seccomp call failed: then its report is
			 * in the pipe and names the real cause (a taking that found no process would not). */
			result[0] = STEP_SECCOMP; result[1] = -result[2];
			kill(pid, SIGKILL);
			int status; while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
			struct pollfd ready = { pipefd[0], POLLIN, 0 };
			if (poll(&ready, 1, 0) == 1 && read(pipefd[0], msg, sizeof msg) == (ssize_t)sizeof msg) { result[0] = msg[0]; result[1] = msg[1]; }
			close(pipefd[0]);
			return -1;
		}
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

/* An exclusive flock on `path` (created 0600 if missing, never through a symlink): the fd, or
 * -errno (-EWOULDBLOCK: someone holds it). The lock lasts while the fd (or a copy) is open. */
int tsjail_try_lock(const char *path) {
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) { int e = errno; close(fd); return -e; }
	return fd;
}

/* The SHA-256 of this file, set by tsjail's build (src/jail/helper.ts): tsjail loads no helper
 * whose mark differs from the source it ships (a stale cached build once ran jails unfiltered). */
#ifndef TSJAIL_SOURCE_HASH
#define TSJAIL_SOURCE_HASH "unset"
#endif
__attribute__((used)) const char tsjail_source_mark[] = "tsjail-source-sha256:" TSJAIL_SOURCE_HASH;

const char *tsjail_source_hash(void) {
	return tsjail_source_mark + sizeof "tsjail-source-sha256:" - 1;
}

/* tsjail's answer to the handshake (HANDSHAKE_ERRNO in src/jail/notifications.ts): never the
 * kernel's own answer to an unknown syscall (ENOSYS). */
#define HANDSHAKE_ERRNO EBADMSG

/* A filter was loaded: prove it is in force before exec. Every call now goes through it, so the
 * proof is one the filter cannot fake by letting a call run unfiltered:
 * - with a listener, the handshake must come back with tsjail's answer, which only a loaded
 *   filter whose listener tsjail holds can produce (unfiltered, it is ENOSYS);
 * - without one, prctl(PR_GET_SECCOMP) must not say 0 (no filter): it says 2, or fails because
 *   the filter refused it, which only a loaded filter can do. */
static void verify_filter(void) {
	errno = 0;
	if (S.notify) {
		if (syscall(HANDSHAKE_NR) != -1 || errno != HANDSHAKE_ERRNO) {
			if (errno == 0 || errno == HANDSHAKE_ERRNO) errno = EPROTO;
			fail(STEP_SECCOMP_VERIFY);
		}
	} else if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0) {
		errno = ENOSYS;
		fail(STEP_SECCOMP_VERIFY);
	}
}

#include <net/if.h>
#include <sys/socket.h>

/* A new network namespace has only `lo`, and it is down: bring it up, as bwrap, docker and
 * nsjail do, so that 127.0.0.1 and ::1 work in the jail. The jail's user namespace (or root)
 * owns the namespace, so this needs no privilege on the host. */
static void bring_up_loopback(void) {
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) fail(STEP_LOOPBACK);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr)) fail(STEP_LOOPBACK);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr)) fail(STEP_LOOPBACK);
	close(fd);
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

/* A bind's source tree; `nofollow` (a file rule's): no symlink anywhere on the path, so one
 * swapped in after tsjail resolved it (another jail writing the same workspace) cannot redirect
 * the bind (ELOOP instead). */
static int source_tree(const char *src, int nofollow) {
	if (!nofollow) return (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_NO_SYMLINKS;
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, src, &how, sizeof how);
	if (fd < 0) return -1;
	int tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	int saved = errno;
	close(fd);
	errno = saved;
	return tree;
}

/* Hidden reads (at the end of this file): step 90 of helper.ts STEPS. */
#define STEP_HIDDEN_MAP 90
static int hidden_file_mask(uint32_t i);
static void hidden_mark(uint32_t i, int fd);
/*
 * A file rule's hide of mount i: an existing directory gets an empty tmpfs (writable until
 * seal_hidden, so that the rules beneath it get their mount points), anything else (a file, a
 * FIFO, a socket, a device) an empty read-only file of its own; a missing path nothing. Opened
 * O_PATH: a FIFO never blocks, and any kind of file can be covered. Each mask is watched for
 * opens where tsjail reports hidden reads (hidden_mark).
 */
static void hide_path(int rootfd, uint32_t i) {
	struct mount_spec *m = &S.mounts[i];
	int fd = open_in_root(rootfd, m->dst);
	if (fd < 0) { if (errno == ENOENT) return; fail_mount(i); }
	if (is_dir_fd(fd)) {
		if (mount("tmpfs", fd_path(fd).s, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k")) fail_mount(i);
		close(fd);
		if ((m->tree = open_in_root(rootfd, m->dst)) < 0) fail_mount(i);
		hidden_mark(i, m->tree);
	} else {
		int mask = hidden_file_mask(i);
		if (mask < 0 || attach(mask, fd)) fail_mount(i);
		close(mask);
		close(fd);
		if ((fd = open_in_root(rootfd, m->dst)) < 0) fail_mount(i);
		hidden_mark(i, fd);
		close(fd);
	}
}

/* The hidden directories' tmpfs read-only, now that everything beneath them is mounted. */
static void seal_hidden(void) {
	for (uint32_t i = 0; i < S.nmounts; i++) {
		struct mount_spec *m = &S.mounts[i];
		if ((m->kind & KIND_MASK) != KIND_HIDE || m->tree < 0) continue;
		if (set_attrs(m->tree, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0, -1)) fail_mount(i);
		close(m->tree);
		m->tree = -1;
	}
}

/*
 * Landlock: the file rules (src/jail/landlock.ts) enforced by the kernel a second time, and the
 * scopes (signals and abstract unix sockets stay inside the jail). The ruleset comes as the
 * spec's trailing LANDLOCK_SECTION; rule paths are opened in the jail's own view (after the
 * mounts and pivot_root), never through a symlink, and one that is missing or a symlink gets no
 * grant. It is built before the ids change (every path is reachable) and applied after
 * no_new_privs and before the seccomp filter, so the command's filter needs no landlock call.
 */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#define LANDLOCK_SECTION 0x314b4c4cu /* "LLK1" */
#define LANDLOCK_NET_SECTION 0x314e4c4cu /* "LLN1" */
#define LANDLOCK_RULE_PATH_BENEATH_ 1
#define LANDLOCK_RULE_NET_PORT_ 2
#define LANDLOCK_ACCESS_NET_CONNECT_TCP_ (1ULL << 1)
#define MAX_LANDLOCK_PORTS 256
#define LANDLOCK_CREATE_RULESET_VERSION_ (1U << 0)
/* The rights a rule on a file (not a directory) may carry: FILE_RIGHTS in landlock.ts. */
#define LANDLOCK_FILE_RIGHTS 0xc007u
#define MAX_LANDLOCK_RULES 4096
#define STEP_LANDLOCK_RULESET 60
#define STEP_LANDLOCK_RULE 61
#define STEP_LANDLOCK_RESTRICT 62

/* The kernel's structs (linux/landlock.h), spelled out so that older headers build too. */
struct ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
struct ll_net_port { uint64_t allowed_access; uint64_t port; } __attribute__((packed));

static struct {
	uint32_t present, handled_fs, scoped, flags, nrules, stdio, tcp, nports;
	uint32_t ports[MAX_LANDLOCK_PORTS];
	uint32_t rights[MAX_LANDLOCK_RULES];
	const char *paths[MAX_LANDLOCK_RULES];
	int fd;
} LL = { .fd = -1 };

/* The highest Landlock ABI the kernel has, or -errno (EOPNOTSUPP: built in but disabled). */
int tsjail_landlock_abi(void) {
	long r = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION_);
	return r < 0 ? -errno : (int)r;
}

/* The trailing section: tag, handled fs rights, scopes, restrict_self flags, the rule count,
 * whether stdio stays re-openable, then each rule's rights and path. Absent (the spec ends)
 * means no Landlock. */
static const uint8_t *parse_landlock(const uint8_t *p, const uint8_t *end) {
	memset(&LL, 0, sizeof LL);
	LL.fd = -1;
	/* Each trailing section starts with its tag: one that is not there is skipped. */
	if (p == end || !section_is(p, end, LANDLOCK_SECTION)) return p;
	uint32_t head[6];
	if (!(p = u32s(p, end, head, 6)) || head[0] != LANDLOCK_SECTION || head[4] > MAX_LANDLOCK_RULES) return NULL;
	LL.present = 1; LL.handled_fs = head[1]; LL.scoped = head[2]; LL.flags = head[3]; LL.nrules = head[4]; LL.stdio = head[5];
	for (uint32_t i = 0; i < LL.nrules; i++) {
		if (!(p = u32s(p, end, &LL.rights[i], 1))) return NULL;
		if (!(p = opt_string(p, end, &LL.paths[i])) || !LL.paths[i] || LL.paths[i][0] != '/') return NULL;
	}
	/* Optional: the TCP ports connects may go to (handled only when present). */
	if (p != end && end - p >= 8 && p[0] == 'L' && p[1] == 'L' && p[2] == 'N' && p[3] == '1') {
		uint32_t tag;
		if (!(p = u32s(p, end, &tag, 1)) || !(p = u32s(p, end, &LL.nports, 1)) || LL.nports > MAX_LANDLOCK_PORTS) return NULL;
		if (LL.nports && !(p = u32s(p, end, LL.ports, LL.nports))) return NULL;
		LL.tcp = 1; /* no port at all: the jail connects to none by itself */
	}
	return p;
}

static void landlock_prepare(void) {
	if (!LL.present) return;
	struct ll_ruleset_attr attr = { LL.handled_fs, LL.tcp ? LANDLOCK_ACCESS_NET_CONNECT_TCP_ : 0, LL.scoped };
	LL.fd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (LL.fd < 0) fail(STEP_LANDLOCK_RULESET);
	for (uint32_t i = 0; i < LL.nports; i++) {
		struct ll_net_port rule = { LANDLOCK_ACCESS_NET_CONNECT_TCP_, LL.ports[i] };
		if (syscall(__NR_landlock_add_rule, LL.fd, LANDLOCK_RULE_NET_PORT_, &rule, 0)) fail(STEP_LANDLOCK_RULE);
	}
	for (uint32_t i = 0; i < LL.nrules; i++) {
		struct open_how how;
		memset(&how, 0, sizeof how);
		how.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW;
		how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		int fd = (int)syscall(SYS_openat2, AT_FDCWD, LL.paths[i], &how, sizeof how);
		if (fd < 0) continue; /* missing, a symlink on the way, out of reach: no grant */
		struct stat st;
		if (fstat(fd, &st)) fail(STEP_LANDLOCK_RULE);
		struct ll_path_beneath rule = { LL.rights[i] & (S_ISDIR(st.st_mode) ? ~0u : LANDLOCK_FILE_RIGHTS), fd };
		if (rule.allowed_access && syscall(__NR_landlock_add_rule, LL.fd, LANDLOCK_RULE_PATH_BENEATH_, &rule, 0)) fail(STEP_LANDLOCK_RULE);
		close(fd);
	}
	/* The files tsjail's caller gave as stdio stay re-openable as they were opened (/dev/stdout,
	 * /proc/self/fd/N: a tty or a redirected file); pipes and sockets need no rule. */
	for (int fd = 0; LL.stdio && fd <= 2; fd++) {
		struct stat st;
		int mode = fcntl(fd, F_GETFL);
		if (mode < 0 || fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) continue;
		uint64_t r = S_ISCHR(st.st_mode) ? 1u << 15 /* IOCTL_DEV */ : 0;
		if ((mode & O_ACCMODE) != O_WRONLY) r |= 1u << 2; /* READ_FILE */
		if ((mode & O_ACCMODE) != O_RDONLY) r |= (1u << 1) | (1u << 14); /* WRITE_FILE, TRUNCATE */
		struct ll_path_beneath rule = { r & LL.handled_fs, fd };
		if (rule.allowed_access && syscall(__NR_landlock_add_rule, LL.fd, LANDLOCK_RULE_PATH_BENEATH_, &rule, 0) && errno != EBADFD) fail(STEP_LANDLOCK_RULE);
	}
}

static void landlock_restrict(void) {
	if (!LL.present) return;
	if (syscall(__NR_landlock_restrict_self, LL.fd, LL.flags)) fail(STEP_LANDLOCK_RESTRICT);
	close(LL.fd);
	LL.fd = -1;
}

/*
 * Network rules (src/jail/netSupervisor.ts): a stopped connect, sendto, sendmsg or sendmmsg is
 * copied out of the jail here, decided by tsjail on the copy, then performed here on the jail's
 * own socket (pidfd_getfd) with the copy, never continued: a racing thread may change its memory
 * after the copy, and the call that runs does not read it again.
 */
#include <pthread.h>
#include <sys/uio.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

enum net_kind { NET_CONNECT = 0, NET_SENDTO = 1, NET_SENDMSG = 2, NET_SENDMMSG = 3 };
/* The largest send copied whole: a stream send beyond it is a short write, a datagram EMSGSIZE. */
#define NET_DATA_CAP (1 << 20)
#define NET_CONTROL_CAP 4096
/* Blocking calls in flight on threads, at most: past it a call fails with EAGAIN. */
#define NET_MAX_THREADS 256
#define NET_OUT_HEADER 11 /* u32 words before the bytes in `out` */
#define NET_DNS_BYTES 512

struct net_job {
	int listener; /* a dup: the loop may close its own while a thread still answers */
	uint64_t id;
	pid_t tid;
	int pidfd, fd, kind, flags;
	uint64_t msglen_addr; /* sendmmsg: where the kernel would write msg_len */
	struct sockaddr_storage name;
	socklen_t namelen;
	char *data;
	size_t datalen;
	int cut; /* the send was longer than NET_DATA_CAP */
	int type; /* the socket's type (SOCK_STREAM...) */
	int connecting; /* a blocking connect tried at once is in progress: the pool thread waits for it */
	char control[NET_CONTROL_CAP];
	size_t controllen;
	int domain;
	int unix_fd; /* tsjail_unix_open: the socket file as the jail reached it, connected to by its fd */
	int jail_fd; /* the socket's fd number in the jail (tsjail_net_redirect puts another there) */
	struct net_ids *ids; /* a unix call as root: the jail's ids, which the performing thread takes on */
	struct net_job *next; /* in the pool's queue */
};

struct net_ids;
static int net_ids_read(struct net_job *j);
static long net_perform_unix(struct net_job *j, long (*call)(struct net_job *));

static long net_connect_wait(struct net_job *j); /* at the end of this file */
static int net_at_once(struct net_job *j);

static void net_free(struct net_job *j) {
	if (j->fd >= 0) close(j->fd);
	if (j->pidfd >= 0) close(j->pidfd);
	if (j->listener >= 0) close(j->listener);
	if (j->unix_fd >= 0) close(j->unix_fd);
	free(j->ids);
	free(j->data);
	free(j);
}

/* Reads exactly `len` bytes at `addr` in the jail's thread, or fails with EFAULT. */
static int net_read(pid_t tid, uint64_t addr, void *buf, size_t len) {
	if (!len) return 0;
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len) return 0;
	errno = n < 0 && errno != EFAULT && errno != ESRCH ? errno : EFAULT;
	return -1;
}

/* Copies a msghdr's name, data (gathered) and control into the job, as the kernel would read them. */
static int net_read_msghdr(struct net_job *j, uint64_t addr) {
	struct msghdr m;
	if (net_read(j->tid, addr, &m, sizeof m)) return -1;
	if (m.msg_name && m.msg_namelen) {
		j->namelen = m.msg_namelen > sizeof j->name ? sizeof j->name : m.msg_namelen;
		if (net_read(j->tid, (uintptr_t)m.msg_name, &j->name, j->namelen)) return -1;
	}
	if (m.msg_iovlen > 1024) { errno = EMSGSIZE; return -1; }
	if (m.msg_controllen > NET_CONTROL_CAP) { errno = ENOBUFS; return -1; }
	if (m.msg_controllen && m.msg_control) {
		j->controllen = m.msg_controllen;
		if (net_read(j->tid, (uintptr_t)m.msg_control, j->control, j->controllen)) return -1;
	}
	struct iovec *iov = calloc(m.msg_iovlen ? m.msg_iovlen : 1, sizeof *iov);
	if (!iov) return -1;
	int r = net_read(j->tid, (uintptr_t)m.msg_iov, iov, m.msg_iovlen * sizeof *iov);
	size_t total = 0;
	for (size_t i = 0; !r && i < m.msg_iovlen && total <= NET_DATA_CAP; i++) total += iov[i].iov_len > NET_DATA_CAP ? NET_DATA_CAP + 1 : iov[i].iov_len;
	if (total > NET_DATA_CAP) { total = NET_DATA_CAP; j->cut = 1; }
	if (!r && !(j->data = malloc(total ? total : 1))) r = -1;
	for (size_t i = 0, at = 0; !r && i < m.msg_iovlen && at < total; i++) {
		size_t n = iov[i].iov_len < total - at ? iov[i].iov_len : total - at;
		r = net_read(j->tid, (uintptr_t)iov[i].iov_base, j->data + at, n);
		at += n;
	}
	free(iov);
	j->datalen = total;
	return r;
}

static int net_copy_call(struct net_job *j, const uint64_t *args) {
	switch (j->kind) {
	case NET_CONNECT:
		if ((int)args[2] < 0 || (int)args[2] > (int)sizeof j->name) { errno = EINVAL; return -1; }
		j->namelen = (socklen_t)(int)args[2];
		return net_read(j->tid, args[1], &j->name, j->namelen);
	case NET_SENDTO: {
		if ((int)args[5] < 0 || (int)args[5] > (int)sizeof j->name) { errno = EINVAL; return -1; }
		j->flags = (int)args[3];
		j->namelen = args[4] ? (socklen_t)(int)args[5] : 0;
		if (net_read(j->tid, args[4], &j->name, j->namelen)) return -1;
		j->cut = args[2] > NET_DATA_CAP;
		j->datalen = j->cut ? NET_DATA_CAP : args[2];
		if (!(j->data = malloc(j->datalen ? j->datalen : 1))) return -1;
		return net_read(j->tid, args[1], j->data, j->datalen);
	}
	case NET_SENDMSG:
		j->flags = (int)args[2];
		return net_read_msghdr(j, args[1]);
	case NET_SENDMMSG:
		/* The first message only: sendmmsg may send fewer than asked, and says how many. */
		j->flags = (int)args[3];
		j->msglen_addr = args[1] + offsetof(struct mmsghdr, msg_len);
		return net_read_msghdr(j, args[1]);
	}
	errno = EINVAL;
	return -1;
}

static void put_u32s(uint8_t *out, const uint32_t *v, int n) { memcpy(out, v, 4 * n); }

/*
 * Copies stopped call `id` of thread `tid` (kind: connect 0, sendto 1, sendmsg 2, sendmmsg 3;
 * args: its six registers) and fetches its socket. `out` (at least 4 * NET_OUT_HEADER + 128 +
 * 128 + NET_CONTROL_CAP + NET_DNS_BYTES bytes) gets: domain, type, protocol, flags, name length,
 * peer length, control length, data length, vlen==0, nonblocking, 0; then the name (128 bytes),
 * the socket's peer (128), the control messages, the data's first NET_DNS_BYTES. Returns the
 * job for tsjail_net_finish, or NULL with *err = errno (the call is then answered already).
 */
struct net_job *tsjail_net_copy(int listener, uint64_t id, int tid, int kind, const uint64_t *args, uint8_t *out, int32_t *err) {
	struct net_job *j = calloc(1, sizeof *j);
	if (!j) { *err = ENOMEM; return NULL; }
	j->listener = j->pidfd = j->fd = j->unix_fd = -1;
	j->id = id; j->tid = tid; j->kind = kind; j->jail_fd = (int)args[0];
	int empty = kind == NET_SENDMMSG && (unsigned)args[2] == 0;
	int r = (j->listener = fcntl(listener, F_DUPFD_CLOEXEC, 3)) < 0 ? -1 : 0;
	if (!r) {
		j->pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
		if (j->pidfd < 0 && errno == EINVAL) j->pidfd = (int)syscall(SYS_pidfd_open, tgid_of(tid), 0);
		r = j->pidfd < 0 ? -1 : 0;
	}
	if (!r) r = (j->fd = (int)syscall(SYS_pidfd_getfd, j->pidfd, (int)args[0], 0)) < 0 ? -1 : 0;
	int domain = 0, type = 0, protocol = 0;
	socklen_t sl = sizeof domain;
	if (!r && getsockopt(j->fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl)) r = -1;
	sl = sizeof type;
	if (!r && getsockopt(j->fd, SOL_SOCKET, SO_TYPE, &type, &sl)) r = -1;
	sl = sizeof protocol;
	if (!r && getsockopt(j->fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &sl)) r = -1;
	j->domain = domain;
	j->type = type;
	if (!r && domain == AF_UNIX) r = net_ids_read(j);
	if (!r && !empty) r = net_copy_call(j, args);
	/* A stream takes a short write; a datagram cut short would be another message. */
	if (!r && j->cut && type != SOCK_STREAM) { errno = EMSGSIZE; r = -1; }
	struct sockaddr_storage peer;
	socklen_t peerlen = sizeof peer;
	memset(&peer, 0, sizeof peer);
	/* The peer tells a send's destination on a connected socket (DNS); a connect has none yet. */
	if (r || kind == NET_CONNECT || getpeername(j->fd, (struct sockaddr *)&peer, &peerlen)) peerlen = 0;
	/* What was read is the caller's only if the call still waits (its pid was not reused). */
	if (!r && ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)) r = -1;
	if (r) {
		*err = errno == EBADF || errno == ENOTSOCK || errno == EINVAL || errno == EFAULT || errno == EMSGSIZE || errno == ENOBUFS ? errno : errno == ENOENT ? ENOENT : EPERM;
		if (*err != ENOENT) tsjail_notif_send(listener, id, *err, 0);
		net_free(j);
		return NULL;
	}
	int fl = fcntl(j->fd, F_GETFL);
	uint32_t head[NET_OUT_HEADER] = {
		(uint32_t)domain, (uint32_t)type, (uint32_t)protocol, (uint32_t)j->flags, j->namelen, peerlen, (uint32_t)j->controllen,
		(uint32_t)j->datalen, (uint32_t)empty, (uint32_t)((fl >= 0 && (fl & O_NONBLOCK)) || (j->flags & MSG_DONTWAIT)), 0,
	};
	put_u32s(out, head, NET_OUT_HEADER);
	uint8_t *p = out + 4 * NET_OUT_HEADER;
	memcpy(p, &j->name, 128);
	memcpy(p + 128, &peer, 128);
	memcpy(p + 256, j->control, j->controllen);
	memcpy(p + 256 + NET_CONTROL_CAP, j->data ? j->data : "", j->datalen < NET_DNS_BYTES ? j->datalen : NET_DNS_BYTES);
	*err = 0;
	return j;
}

static void net_answer(struct net_job *j, long val, int error) {
	struct seccomp_notif_resp r;
	memset(&r, 0, sizeof r);
	r.id = j->id;
	r.val = val;
	r.error = error ? -error : 0;
	ioctl(j->listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

/* SCM_RIGHTS carries the jail's fd numbers: each becomes tsjail's copy of that file. */
static int net_translate_rights(struct net_job *j, int *taken, int *ntaken, int max) {
	struct msghdr m = { .msg_control = j->control, .msg_controllen = j->controllen };
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
		int *fds = (int *)CMSG_DATA(c);
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (*ntaken >= max) { errno = ETOOMANYREFS; return -1; }
			int mine = (int)syscall(SYS_pidfd_getfd, j->pidfd, fds[i], 0);
			if (mine < 0) return -1;
			fds[i] = taken[(*ntaken)++] = mine;
		}
	}
	return 0;
}

static long net_call(struct net_job *j) {
	long r;
	int e = 0;
	if (j->kind == NET_CONNECT) {
		r = j->connecting ? net_connect_wait(j) : connect(j->fd, (struct sockaddr *)&j->name, j->namelen);
	} else {
		int taken[253 * 4], ntaken = 0;
		struct iovec iov = { j->data, j->datalen };
		struct msghdr m = {
			.msg_name = j->namelen ? &j->name : NULL, .msg_namelen = j->namelen, .msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = j->controllen ? j->control : NULL, .msg_controllen = j->controllen,
		};
		/* tsjail takes no SIGPIPE for the jail (Node ignores it): the jail gets EPIPE. */
		r = net_translate_rights(j, taken, &ntaken, (int)(sizeof taken / sizeof *taken)) ? -1 : sendmsg(j->fd, &m, j->flags | MSG_NOSIGNAL);
		if (r < 0) e = errno;
		while (ntaken) close(taken[--ntaken]);
		if (r >= 0 && j->kind == NET_SENDMMSG) {
			uint32_t len = (uint32_t)r;
			struct iovec local = { &len, sizeof len }, remote = { (void *)(uintptr_t)j->msglen_addr, sizeof len };
			process_vm_writev(j->tid, &local, 1, &remote, 1, 0);
			r = 1;
		}
		if (r < 0) errno = e;
	}
	return r;
}

static void net_perform(struct net_job *j) {
	long r = j->domain == AF_UNIX ? net_perform_unix(j, net_call) : net_call(j);
	int e = r < 0 ? errno : 0;
	net_answer(j, r < 0 ? 0 : r, e);
}

/*
 * Blocking calls run on a pool of threads kept between calls (a thread made per call cost more
 * than the rest of the call): at most NET_MAX_THREADS, each ending after NET_IDLE_SECONDS idle.
 * A job is handed to one idle thread, which waits on its own semaphore: one wake-up per call, and
 * no lock the woken thread must take before it runs.
 */
#include <semaphore.h>
#define NET_IDLE_SECONDS 10
struct net_worker {
	sem_t go;
	struct net_job *job;
	struct net_worker *next_idle;
};
static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static struct net_worker *net_idle;
static int net_workers;

/* Takes `w` off the idle list if it is still there (no job was handed to it). */
static int net_unidle(struct net_worker *w) {
	for (struct net_worker **p = &net_idle; *p; p = &(*p)->next_idle) {
		if (*p == w) { *p = w->next_idle; return 1; }
	}
	return 0;
}

static void *net_worker_main(void *arg) {
	struct net_worker *w = arg;
	for (;;) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += NET_IDLE_SECONDS;
		if (sem_timedwait(&w->go, &until)) {
			pthread_mutex_lock(&net_lock);
			int leave = net_unidle(w);
			if (leave) net_workers--;
			pthread_mutex_unlock(&net_lock);
			if (!leave) continue; /* a job is being handed over: its post comes */
			sem_destroy(&w->go);
			free(w);
			return NULL;
		}
		struct net_job *j = w->job;
		w->job = NULL;
		net_perform(j);
		net_free(j);
		pthread_mutex_lock(&net_lock);
		w->next_idle = net_idle;
		net_idle = w;
		pthread_mutex_unlock(&net_lock);
	}
}

/* Hands a job to an idle thread, or to a new one; -1 when the pool is full. */
static int net_submit(struct net_job *j) {
	pthread_mutex_lock(&net_lock);
	struct net_worker *w = net_idle;
	if (w) {
		net_idle = w->next_idle;
	} else {
		if (net_workers >= NET_MAX_THREADS || !(w = calloc(1, sizeof *w))) { pthread_mutex_unlock(&net_lock); return -1; }
		sem_init(&w->go, 0, 0);
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64 * 1024 + sizeof(int) * 253 * 4);
		int r = pthread_create(&t, &attr, net_worker_main, w);
		pthread_attr_destroy(&attr);
		if (r) { sem_destroy(&w->go); free(w); pthread_mutex_unlock(&net_lock); return -1; }
		net_workers++;
	}
	w->job = j;
	pthread_mutex_unlock(&net_lock);
	sem_post(&w->go);
	return 0;
}

/*
 * Ends a job: refuses the call with `error` (non-zero), or performs it with the copy and answers
 * with its result: here when it cannot block (a non-blocking socket, MSG_DONTWAIT) and needs no
 * other ids, else on a pool thread, so a slow peer stalls no other call. Returns 0.
 */
int tsjail_net_finish(struct net_job *j, int error, int inline_ok) {
	if (error || (j->kind == NET_SENDMMSG && !j->msglen_addr)) {
		net_answer(j, 0, error);
		net_free(j);
		return 0;
	}
	/* Node's own thread never takes on other ids. */
	if (!inline_ok && !j->ids && (j->domain == AF_INET || j->domain == AF_INET6) && net_at_once(j)) {
		net_free(j);
		return 0;
	}
	if (inline_ok && !j->ids) {
		net_perform(j);
		net_free(j);
		return 0;
	}
	if (net_submit(j)) {
		net_answer(j, 0, EAGAIN);
		net_free(j);
	}
	return 0;
}

/*
 * Unix sockets under the network rules (src/jail/unixRules.ts): a socket path is opened here as
 * the jail reaches it (its root and cwd, symlinks inside its root, no magic links), tsjail decides
 * on where that file is, and the call is performed on that very file, named by its fd
 * (/proc/self/fd/N), so a path swapped after the decision reaches nothing new. As root, the
 * thread that performs a unix call first takes on the jail's ids (its own thread only: raw
 * syscalls, not glibc's process-wide wrappers), so the peer's SO_PEERCRED and the
 * SCM_CREDENTIALS the kernel attaches carry the jail's uid and gid, and permission on the socket
 * file is checked as the jail; the pid they carry is tsjail's.
 */
#include <limits.h>
#include <sys/un.h>

#define NET_MAX_GROUPS 1024

struct net_ids {
	uid_t uid, euid;
	gid_t gid, egid;
	int ngroups;
	gid_t groups[NET_MAX_GROUPS];
};

/* "Uid:\t1\t2\t3\t4" → the first `n` numbers after `key`, or -1. */
static int status_numbers(const char *text, const char *key, unsigned long *v, int n) {
	const char *p = strstr(text, key);
	if (!p) return -1;
	p += strlen(key);
	int i = 0;
	while (i < n) {
		while (*p == ' ' || *p == '\t') p++;
		if (*p < '0' || *p > '9') break;
		char *end;
		v[i++] = strtoul(p, &end, 10);
		p = end;
	}
	return i;
}

/* As root: the calling jail thread's ids from /proc/TID/status (the host's ids: tsjail is in the first user namespace). */
static int net_ids_read(struct net_job *j) {
	if (syscall(SYS_geteuid) != 0) return 0;
	char file[64] = "/proc/", text[16384];
	memcpy(fmt_u32(file + 6, (uint32_t)j->tid), "/status", 8);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof text - 1) { errno = EPERM; return -1; }
	text[n] = 0;
	struct net_ids *ids = calloc(1, sizeof *ids);
	if (!ids) return -1;
	unsigned long u[2], g[2], groups[NET_MAX_GROUPS + 1];
	int ng = status_numbers(text, "\nGroups:", groups, NET_MAX_GROUPS + 1);
	if (status_numbers(text, "\nUid:", u, 2) != 2 || status_numbers(text, "\nGid:", g, 2) != 2 || ng < 0 || ng > NET_MAX_GROUPS) {
		free(ids);
		errno = EPERM;
		return -1;
	}
	ids->uid = (uid_t)u[0]; ids->euid = (uid_t)u[1]; ids->gid = (gid_t)g[0]; ids->egid = (gid_t)g[1];
	ids->ngroups = ng;
	for (int i = 0; i < ng; i++) ids->groups[i] = (gid_t)groups[i];
	j->ids = ids;
	return 0;
}

struct net_own_ids {
	uid_t r, e, s;
	gid_t gr, ge, gs;
	int ngroups;
	gid_t groups[NET_MAX_GROUPS];
	int changed; /* how many of groups, gids, uids were changed */
};

/* This thread takes on `ids`, keeping uid 0 as its saved id to come back with; 0, or -1 (then come back). */
static int net_become(const struct net_ids *ids, struct net_own_ids *own) {
	own->changed = 0;
	if (syscall(SYS_getresuid, &own->r, &own->e, &own->s) || syscall(SYS_getresgid, &own->gr, &own->ge, &own->gs)) return -1;
	own->ngroups = (int)syscall(SYS_getgroups, NET_MAX_GROUPS, own->groups);
	if (own->ngroups < 0) return -1;
	if (syscall(SYS_setgroups, ids->ngroups, ids->groups)) return -1;
	own->changed = 1;
	if (syscall(SYS_setresgid, ids->gid, ids->egid, -1)) return -1;
	own->changed = 2;
	if (syscall(SYS_setresuid, ids->uid, ids->euid, -1)) return -1;
	own->changed = 3;
	return 0;
}

/* Back to tsjail's own ids, undoing what was changed; a thread that cannot come back must not go on. */
static void net_come_back(const struct net_own_ids *own) {
	if ((own->changed >= 3 && syscall(SYS_setresuid, own->r, own->e, own->s)) ||
	    (own->changed >= 2 && syscall(SYS_setresgid, own->gr, own->ge, own->gs)) ||
	    (own->changed >= 1 && syscall(SYS_setgroups, own->ngroups, own->groups)))
		abort();
}

/* A unix call: to the opened socket file by its fd, as the jail's ids where tsjail is root. */
static long net_perform_unix(struct net_job *j, long (*call)(struct net_job *)) {
	if (j->unix_fd >= 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&j->name;
		struct fd_path p = fd_path(j->unix_fd);
		memset(sun, 0, sizeof *sun);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, p.s, strlen(p.s) + 1);
		j->namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p.s) + 1);
	}
	struct net_own_ids own;
	if (j->ids && net_become(j->ids, &own)) {
		net_come_back(&own);
		errno = EACCES; /* the jail's ids could not be taken on: not performed as tsjail's */
		return -1;
	}
	long r = call(j);
	int e = errno;
	if (j->ids) net_come_back(&own);
	errno = e;
	return r;
}

/*
 * The socket file a copied unix call names (a pathname, not abstract), opened as the jail
 * resolves it; `out` gets where it is in the jail's view (readlink of the opened file). Returns 0,
 * or the errno the call fails with: the kernel's for a path that is not there (ENOENT, ENOTDIR),
 * ECONNREFUSED for a file that is not a socket, ELOOP for a magic link (/proc/PID/fd/N). `dev`
 * gets the file's device (is it on the jail's private /tmp, or the host's?).
 */
int tsjail_unix_open(struct net_job *j, char *out, int outlen, uint64_t *dev) {
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&j->name;
	size_t base = offsetof(struct sockaddr_un, sun_path);
	if (j->namelen <= base || j->namelen > sizeof(struct sockaddr_un) || !sun->sun_path[0] || outlen < 2) return EINVAL;
	char path[PATH_MAX + sizeof sun->sun_path + 1];
	size_t n = strnlen(sun->sun_path, j->namelen - base);
	size_t at = 0;
	if (sun->sun_path[0] != '/') {
		char cwd[64] = "/proc/";
		memcpy(fmt_u32(cwd + 6, (uint32_t)j->tid), "/cwd", 5);
		ssize_t len = readlink(cwd, path, PATH_MAX);
		if (len <= 0 || len >= PATH_MAX || path[0] != '/') return ENOENT;
		at = (size_t)len;
		path[at++] = '/';
	}
	memcpy(path + at, sun->sun_path, n);
	path[at + n] = 0;
	char root[64] = "/proc/";
	memcpy(fmt_u32(root + 6, (uint32_t)j->tid), "/root", 6);
	int rootfd = open(root, O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (rootfd < 0) return EPERM;
	int fd = open_in_root(rootfd, path);
	int e = errno;
	close(rootfd);
	/* What was opened is the caller's view only if the call still waits (its tid was not reused). */
	if (ioctl(j->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &j->id)) { if (fd >= 0) close(fd); return ENOENT; }
	if (fd < 0) return e == ENOENT || e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG || e == EAGAIN ? e : EACCES;
	struct stat st;
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) || st.st_nlink == 0) { close(fd); return ECONNREFUSED; }
	struct fd_path p = fd_path(fd);
	ssize_t len = readlink(p.s, out, (size_t)outlen - 1);
	if (len <= 0 || out[0] != '/') { close(fd); return EACCES; }
	out[len] = 0;
	*dev = (uint64_t)st.st_dev;
	j->unix_fd = fd;
	return 0;
}

/*
 * Asks the kernel to wake the supervisor, and the jail's thread when answered, on the waking
 * CPU (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6): a stopped call is a round trip, and the
 * thread that waits for it does nothing meanwhile. Returns 0 or -errno (an older kernel: EINVAL).
 */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, uint64_t)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif
int tsjail_notif_sync_wakeup(int listener) {
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (uint64_t)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) ? -errno : 0;
}

/*
 * Is the socket file tsjail_unix_open opened on the mount the jail has at `path` (the deciding
 * file rule's directory, in its view)? A socket made reachable by a mount of the jail's own (a
 * bind of /run into the workspace, where a policy allows mounts) is on another. 1, 0, or -errno.
 */
int tsjail_unix_same_mount(struct net_job *j, const char *path) {
	if (j->unix_fd < 0) return -EINVAL;
	char root[64] = "/proc/";
	memcpy(fmt_u32(root + 6, (uint32_t)j->tid), "/root", 6);
	int rootfd = open(root, O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (rootfd < 0) return -errno;
	int fd = open_in_root(rootfd, path);
	int e = errno;
	close(rootfd);
	if (fd < 0) return -e;
	struct statx a, b;
	int r = statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) || statx(j->unix_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) ? -errno : 0;
	close(fd);
	if (r) return r;
	if (!(a.stx_mask & b.stx_mask & STATX_MNT_ID)) return -ENOSYS;
	return a.stx_mnt_id == b.stx_mnt_id;
}

/*
 * Reads of hidden paths (src/jail/hiddenReads.ts). Once the jail's namespaces exist, tsjail makes a
 * fanotify group (notification class, file ids only, so rootless too) and sends it to the jail
 * with the trees (made before clone, a jail without namespaces, e.g. inside another jail, would
 * ask for it in vain): each mask hide_path makes gets an inode mark for opens, and its file id
 * goes to tsjail on the map pipe (tsjail_hidden_map, inherited) as a record {mount index, id}. tsjail reads the events (tsjail_hidden_read) and
 * matches their ids against the map. A hidden file gets an inode of its own (an empty read-only
 * file on a private tmpfs, not the shared /dev/null), so an event names one path. Nothing here
 * decides anything: an event only becomes a report.
 */
#include <sys/fanotify.h>
#include <sys/statfs.h>
#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200
#endif

/* A map or event record, for JavaScript: `what` is the mount index (map) or the event mask. */
struct hidden_record { uint32_t what; int32_t handle_type; uint32_t handle_bytes; uint32_t fsid[2]; int32_t pid; uint8_t handle[64]; };

static struct { uint32_t present; int group, map, store; } HW = { 0, -1, -1, -1 };

static int section_is(const uint8_t *p, const uint8_t *end, uint32_t tag) {
	uint32_t v;
	if (end - p < 4) return 0;
	memcpy(&v, p, 4);
	return v == tag;
}

/* The optional trailing section: the map pipe's write end, inherited. */
static const uint8_t *parse_hidden(const uint8_t *p, const uint8_t *end) {
	HW.present = 0; HW.group = HW.map = HW.store = -1;
	if (p == end || !section_is(p, end, HIDDEN_SECTION_TAG)) return p;
	uint32_t v[2];
	if (!(p = u32s(p, end, v, 2))) return NULL;
	HW.present = 1; HW.map = (int)v[1];
	return p;
}

/* The map pipe: fds[0] tsjail's read end, fds[1] the write end the jail inherits. */
int tsjail_hidden_map(int32_t *fds) {
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) return -errno;
	fds[0] = p[0]; fds[1] = p[1];
	return 0;
}

/* Parent side: the group, kept as result[4] (-errno where the kernel gives none: the jail runs
 * unwatched); -1 only if the channel fails. */
static int hidden_send_group(int chan, int32_t *result) {
	if (!HW.present) return 0;
	int group = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC);
	if (group < 0) { result[4] = -errno; return 0; }
	result[4] = group;
	return send_tree(chan, TREE_HIDDEN_GROUP, group);
}

static void hidden_take_group(int fd) {
	HW.group = fd;
}

/* The file id fanotify reports for the inode at fd (AT_HANDLE_FID: the same encoding). */
static int hidden_id(int fd, struct hidden_record *r) {
	struct { struct file_handle h; unsigned char bytes[64]; } fh;
	struct statfs sf;
	int mnt;
	fh.h.handle_bytes = sizeof fh.bytes;
	if (syscall(SYS_name_to_handle_at, fd, "", &fh.h, &mnt, AT_EMPTY_PATH | AT_HANDLE_FID) || fstatfs(fd, &sf)) return -1;
	r->handle_type = fh.h.handle_type;
	r->handle_bytes = fh.h.handle_bytes;
	memcpy(r->fsid, &sf.f_fsid, sizeof r->fsid);
	memcpy(r->handle, fh.bytes, fh.h.handle_bytes);
	return 0;
}

/* Mount i's mask (at fd) watched for opens, and its id sent to tsjail; where the kernel refuses
 * the mark, a record without an id and with -errno as its handle type (tsjail says so: a report
 * is missing, nothing is less confined). */
static void hidden_mark(uint32_t i, int fd) {
	if (HW.group < 0) return;
	struct hidden_record r;
	memset(&r, 0, sizeof r);
	r.what = i;
	if (fanotify_mark(HW.group, FAN_MARK_ADD, FAN_OPEN | FAN_ONDIR, AT_FDCWD, fd_path(fd).s) || hidden_id(fd, &r)) {
		r.handle_type = -errno;
		r.handle_bytes = 0;
	}
	if (write(HW.map, &r, sizeof r) != (ssize_t)sizeof r) fail(STEP_HIDDEN_MAP);
}

/* A hidden file's mask: an empty read-only file of its own on a private, detached tmpfs. */
static int hidden_file_mask(uint32_t i) {
	if (HW.store < 0) {
		int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0) return -1;
		int ok = !syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0700", 0)
			&& !syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "4k", 0)
			&& !syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
		if (ok) HW.store = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		int e = errno;
		close(fs);
		errno = e;
		if (HW.store < 0) return -1;
	}
	char name[16];
	*fmt_u32(name, i) = 0;
	int f = openat(HW.store, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (f < 0) return -1;
	close(f);
	int tree = (int)syscall(SYS_open_tree, HW.store, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) return -1;
	if (set_attrs(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, -1)) { int e = errno; close(tree); errno = e; return -1; }
	return tree;
}

/*
 * Up to timeout_ms for events; each one (FAN_Q_OVERFLOW too, with no id) as a record in out.
 * Returns the number of records, or -errno. out holds at least one record per 24 bytes read.
 */
int tsjail_hidden_read(int group, uint8_t *out, int outlen, int timeout_ms) {
	struct pollfd pfd = { group, POLLIN, 0 };
	int ready = poll(&pfd, 1, timeout_ms);
	if (ready <= 0) return ready < 0 && errno != EINTR ? -errno : 0;
	static __thread char buf[8192] __attribute__((aligned(8)));
	size_t cap = (size_t)(outlen > 0 ? outlen : 0) / sizeof(struct hidden_record) * sizeof(struct fanotify_event_metadata);
	ssize_t n = read(group, buf, cap < sizeof buf ? cap : sizeof buf);
	if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	int count = 0;
	for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
		struct hidden_record r;
		memset(&r, 0, sizeof r);
		r.what = (uint32_t)m->mask;
		r.pid = m->pid;
		for (char *at = (char *)(m + 1); at + sizeof(struct fanotify_event_info_header) <= (char *)m + m->event_len;) {
			struct fanotify_event_info_fid *info = (void *)at;
			if (!info->hdr.len) break;
			struct file_handle *h = (void *)info->handle;
			if (info->hdr.info_type == FAN_EVENT_INFO_TYPE_FID && h->handle_bytes <= sizeof r.handle
			    && at + sizeof *info + sizeof *h + h->handle_bytes <= (char *)m + m->event_len) {
				memcpy(r.fsid, &info->fsid, sizeof r.fsid);
				r.handle_type = h->handle_type;
				r.handle_bytes = h->handle_bytes;
				memcpy(r.handle, h->f_handle, h->handle_bytes);
			}
			at += info->hdr.len;
		}
		memcpy(out + (size_t)count * sizeof r, &r, sizeof r);
		count++;
	}
	return count;
}

/* ---- The library (src/index.ts spawn, loadFilter): given stdio, readiness without worker threads, loading a filter here. */

#include <pthread.h>
#include <sys/epoll.h>

/* "STD1" and the three fds the command gets as 0, 1, 2 (-1: the helper's own, inherited). */
#define STDIO_SECTION_TAG 0x31445453u
static int32_t given_fds[3] = { -1, -1, -1 };

static const uint8_t *parse_stdio(const uint8_t *p, const uint8_t *end) {
	given_fds[0] = given_fds[1] = given_fds[2] = -1;
	if (p == end || !section_is(p, end, STDIO_SECTION_TAG)) return p;
	uint32_t v[4];
	if (!(p = u32s(p, end, v, 4))) return NULL;
	for (int i = 0; i < 3; i++) given_fds[i] = (int32_t)v[i + 1];
	return p;
}

/* Moved out of the way first (above 2), so that a given fd 1 as stdout of another is not lost to a dup2 before it. */
static void given_stdio(void) {
	int moved[3];
	for (int i = 0; i < 3; i++) {
		moved[i] = given_fds[i] < 0 ? -1 : fcntl(given_fds[i], F_DUPFD_CLOEXEC, 3);
		if (given_fds[i] >= 0 && moved[i] < 0) fail(STEP_STDIO);
	}
	for (int i = 0; i < 3; i++) {
		if (moved[i] < 0) continue;
		if (dup2(moved[i], i) < 0) fail(STEP_STDIO);
		close(moved[i]);
	}
}

/* A pipe for a jail's stdio: fds[0] the read end, fds[1] the write end, both close-on-exec. */
int tsjail_pipe(int32_t *fds) {
	int p[2];
	if (pipe2(p, O_CLOEXEC)) return -errno;
	fds[0] = p[0]; fds[1] = p[1];
	return 0;
}

int tsjail_pidfd(int pid) {
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

/* One thread waits for every fd tsjail watches (listeners, exec pipes, pidfds) and writes each
 * ready one's 8-byte token to a pipe Node reads on its event loop: however many jails run,
 * none holds one of Node's few worker threads while it waits. */
static int poller_epoll = -1, poller_pipe = -1;

static void *poller_main(void *unused) {
	(void)unused;
	struct epoll_event ev[64];
	for (;;) {
		int n = epoll_wait(poller_epoll, ev, 64, -1);
		for (int i = 0; i < n; i++) {
			for (ssize_t w; (w = write(poller_pipe, &ev[i].data.u64, 8)) < 0 && errno == EINTR;) {}
		}
	}
	return NULL;
}

/* Starts the poller; returns the read end of its token pipe, or -errno. */
int tsjail_poller_start(void) {
	int p[2];
	if ((poller_epoll = epoll_create1(EPOLL_CLOEXEC)) < 0) return -errno;
	if (pipe2(p, O_CLOEXEC)) return -errno;
	poller_pipe = p[1];
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* Every signal blocked: they are Node's to take. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&t, &attr, poller_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r) { close(p[0]); close(p[1]); return -r; }
	return p[0];
}

/* Tells the poller to report `token` once, when `fd` is next readable (or hung up). */
int tsjail_poller_add(int fd, uint64_t token) {
	struct epoll_event ev = { EPOLLIN | EPOLLONESHOT, { .u64 = token } };
	if (epoll_ctl(poller_epoll, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
	if (errno == EEXIST && epoll_ctl(poller_epoll, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
	return -errno;
}

/* Steps of tsjail_load_filter (src/jail/helper.ts STEPS; 100 is STEP_LISTENER's). */
#define STEP_LOAD_NNP 101
#define STEP_LOAD_FILTER 102
#define STEP_LOAD_TSYNC 103

/* no_new_privs, then the filter, into the calling process (every thread with `tsync`). Returns
 * 0, or -1 with result[0] = step and result[1] = errno; with TSYNC refused, result[1] is the
 * id of the thread that could not be synchronized. */
int tsjail_load_filter(const uint8_t *prog, size_t len, int tsync, int32_t *result) {
	struct sock_fprog p = { (unsigned short)(len / sizeof(struct sock_filter)), (struct sock_filter *)prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { result[0] = STEP_LOAD_NNP; result[1] = errno; return -1; }
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0, &p);
	if (r < 0) { result[0] = STEP_LOAD_FILTER; result[1] = errno; return -1; }
	if (r > 0) { result[0] = STEP_LOAD_TSYNC; result[1] = (int32_t)r; return -1; }
	return 0;
}

/*
 * Without a PID namespace nothing ends a process the command left behind (setsid, a double
 * fork) when the command ends. The keeper holds the tree instead: it is a child subreaper, so
 * every orphan of the jail becomes its child, and when the command has exited (or tsjail ends
 * the jail with KEEPER_END_SIGNAL, or dies) it kills its children until it has none left. A
 * process cannot leave the tree: its orphans come to the nearest subreaper, the keeper at most.
 * The keeper is outside the command's Landlock domain (no ptrace; no signal where Landlock
 * scopes signals) and not dumpable.
 */
#define KEEPER_SECTION_TAG 0x3150454bu /* "KEP1": the spec's keeper section */
#define KEEPER_END_SIGNAL SIGPWR       /* from tsjail (src/jail/run.ts), and as the keeper's parent-death signal */
#define STEP_KEEPER 105

static const uint8_t *parse_keeper(const uint8_t *p, const uint8_t *end) {
	keeper_present = 0;
	if (p == end || !section_is(p, end, KEEPER_SECTION_TAG)) return p;
	keeper_present = 1;
	return p + 4;
}

static volatile sig_atomic_t keeper_ending;
/* The command is killed here, so a wait already begun returns; the rest follows it. */
static void keeper_end(int sig) { (void)sig; keeper_ending = 1; if (command_pid > 0) kill(command_pid, SIGKILL); }

/* SIGKILL to each of the keeper's children: listed by /proc/thread-self/children, else found by
 * their PPid in /proc. Each is an unreaped child, so its pid cannot be another process's. */
static void keeper_kill_children(void) {
	static char buf[1 << 16];
	int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n;
		size_t have = 0;
		while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
			have += (size_t)n;
			buf[have] = 0;
			/* Kill every complete number; a partial last one waits for the next read. */
			char *at = buf, *next;
			for (long pid; (pid = strtol(at, &next, 10)) > 0 && *next == ' '; at = next + 1) kill((pid_t)pid, SIGKILL);
			have = strlen(at);
			memmove(buf, at, have + 1);
			if (have == sizeof buf - 1) have = 0;
		}
		close(fd);
		return;
	}
	/* No children file (CONFIG_PROC_CHILDREN): every process whose parent is the keeper. */
	int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) return;
	pid_t self = getpid();
	for (;;) {
		long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
		if (got <= 0) break;
		for (long off = 0; off < got;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
			off += d->reclen;
			char *end;
			long pid = strtol(d->name, &end, 10);
			if (pid <= 0 || *end) continue;
			char path[64], stat[512];
			snprintf(path, sizeof path, "/proc/%ld/stat", pid);
			int sfd = open(path, O_RDONLY | O_CLOEXEC);
			if (sfd < 0) continue;
			ssize_t n = read(sfd, stat, sizeof stat - 1);
			close(sfd);
			if (n <= 0) continue;
			stat[n] = 0;
			char *after = strrchr(stat, ')'); /* the name may hold anything; the fields follow its last ')' */
			long ppid;
			if (after && sscanf(after, ") %*c %ld", &ppid) == 1 && ppid == self) kill((pid_t)pid, SIGKILL);
		}
	}
	close(dir);
}

/* Kills the keeper's children until it has none, keeping the command's status once reaped. */
static void keeper_end_tree(pid_t command, int *status) {
	for (;;) {
		keeper_kill_children();
		int st;
		pid_t done = waitpid(-1, &st, __WALL);
		if (done < 0 && errno == EINTR) continue;
		if (done < 0) return; /* ECHILD: no process of the jail is left */
		if (done == command) *status = st;
	}
}

static void run_keeper(void) {
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) fail(STEP_KEEPER);
	pid_t keeper = getpid();
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) fail(STEP_FORK);
	if (pid == 0) {
		for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) signal(forwarded[i], SIG_DFL);
		/* The command dies with its keeper, as it would with tsjail. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) fail(STEP_PARENT_DEATH);
		if (getppid() != keeper) _exit(125);
		sigprocmask(SIG_SETMASK, &old, NULL);
		become_command();
	}
	command_pid = pid;
	drop_init_privileges(pid, 1);
	close(err_fd);
	err_fd = -1;
	if (syscall(SYS_close_range, 0, ~0U, 0)) for (int fd = 0; fd < 65536; fd++) close(fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
	/* Ending interrupts the wait (no SA_RESTART). If tsjail dies the keeper ends the tree (not
	 * SIGKILL: that would leave the tree behind). */
	sa.sa_handler = keeper_end;
	sa.sa_flags = 0;
	sigaction(KEEPER_END_SIGNAL, &sa, NULL);
	if (S.die_with_parent && (prctl(PR_SET_PDEATHSIG, KEEPER_END_SIGNAL, 0, 0, 0) || getppid() != (pid_t)S.parent_pid)) keeper_ending = 1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	int status = SIGKILL; /* as if killed, should the command be reaped by no one (it cannot) */
	while (!keeper_ending) {
		int st;
		pid_t done = waitpid(-1, &st, __WALL);
		if (done < 0 && errno == EINTR) continue;
		if (done < 0) break;
		if (done == pid) { status = st; break; }
	}
	keeper_end_tree(pid, &status);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Sets the times of the file tsjail opened as `fd` (O_PATH: a symlink itself, where it is one):
 * `times` is atime then mtime as seconds and nanoseconds (UTIME_NOW, UTIME_OMIT as the kernel
 * takes them), NULL for now. Returns 0 or -errno. (src/jail/fsMetadata.ts decides.) */
int tsjail_utimens(int fd, const int64_t *times) {
	struct timespec ts[2];
	if (times) for (int i = 0; i < 2; i++) { ts[i].tv_sec = (time_t)times[2 * i]; ts[i].tv_nsec = (long)times[2 * i + 1]; }
	return utimensat(fd, "", times ? ts : NULL, AT_EMPTY_PATH) ? -errno : 0;
}

/*
 * A blocking inet call, tried at once on Node's thread without blocking (a handover to a pool
 * thread costs more than the call): a connect with the socket made non-blocking for the moment
 * (on loopback it is done by the time it returns), a datagram send with MSG_DONTWAIT (all or nothing). Returns
 * 1 when it is answered; 0 when it would block: the pool thread then waits for a connect in
 * progress (net_connect_wait), or sends as asked. A stream send is never tried: done at once it
 * could be short, where the blocking one the jail made would not.
 */
static int net_at_once(struct net_job *j) {
	long r;
	int e;
	if (j->kind == NET_CONNECT) {
		int fl = fcntl(j->fd, F_GETFL);
		if (fl < 0 || fcntl(j->fd, F_SETFL, fl | O_NONBLOCK)) return 0;
		r = connect(j->fd, (struct sockaddr *)&j->name, j->namelen);
		e = errno;
		fcntl(j->fd, F_SETFL, fl);
		/* On loopback the handshake is done once the connect has let go of the socket. */
		struct pollfd p = { j->fd, POLLOUT, 0 };
		if (r < 0 && e == EINPROGRESS && poll(&p, 1, 0) != 1) { j->connecting = 1; return 0; }
		int err = 0;
		socklen_t el = sizeof err;
		if (r < 0 && e == EINPROGRESS) {
			r = getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err ? -1 : 0;
			e = err ? err : errno;
		}
	} else {
		if (j->type != SOCK_DGRAM) return 0;
		int flags = j->flags;
		j->flags |= MSG_DONTWAIT;
		r = net_call(j);
		e = errno;
		j->flags = flags;
		if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK)) return 0;
	}
	net_answer(j, r < 0 ? 0 : r, r < 0 ? e : 0);
	return 1;
}

/* The end of a connect begun at once, as the blocking connect gives it: 0, its error, or
 * EINPROGRESS when the socket's own send timeout (SO_SNDTIMEO) ends first. */
static long net_connect_wait(struct net_job *j) {
	struct timeval tv = { 0, 0 };
	socklen_t tl = sizeof tv;
	getsockopt(j->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tl);
	long ms = tv.tv_sec || tv.tv_usec ? tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000 : -1;
	struct pollfd p = { j->fd, POLLOUT, 0 };
	int ready;
	while ((ready = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms)) < 0 && errno == EINTR) {}
	if (ready <= 0) { errno = ready ? errno : EINPROGRESS; return -1; }
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &el)) return -1;
	if (err) { errno = err; return -1; }
	return 0;
}

/* --tty: the jail's own pseudo-terminal. Its slave becomes the command's stdio and the
 * controlling terminal of its new session (so job control works and the caller's terminal is not
 * among its fds). In a jail with its own /dev the pair is made in the jail's devpts instance
 * (make_jail_pty: the slave is /dev/pts/0 as the jail sees it, so ttyname() finds it) and the
 * master goes to tsjail over the channel; else the slave is the one tsjail opened (fd). */

static const uint8_t *parse_tty(const uint8_t *p, const uint8_t *end) {
	TTY.fd = -1;
	TTY.in_jail = 0;
	if (p == end || !section_is(p, end, TTY_SECTION_TAG)) return p;
	uint32_t v[2];
	if (!(p = u32s(p, end, v, 2))) return NULL;
	if (v[1] == TTY_IN_JAIL) TTY.in_jail = 1;
	else TTY.fd = (int)v[1];
	return p;
}

/* Child side, after the jail's /dev is mounted and its root entered: a pair in the jail's devpts,
 * the master handed to tsjail (then closed here: the jail keeps only the slave). */
static void make_jail_pty(int chan) {
	int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int unlock = 0;
	if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock)) fail(STEP_TTY);
	/* The slave from the master itself, not by a path the jail's mounts could change. */
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0 || send_tree(chan, TREE_TTY_MASTER, master)) fail(STEP_TTY);
	close(master);
	TTY.fd = slave;
}

/* Parent side: the master the child made (-1 if it failed first: its report says why). */
static int receive_tty_master(int chan) {
	struct tree_msg t;
	tree_msg_init(&t, 1);
	ssize_t n;
	do n = recvmsg(chan, &t.m, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
	struct cmsghdr *h = n == (ssize_t)sizeof t.index && t.index == TREE_TTY_MASTER ? CMSG_FIRSTHDR(&t.m) : NULL;
	if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(h), sizeof fd);
	return fd;
}

static void take_tty(void) {
	if (TTY.fd < 0) return;
	for (int fd = 0; fd <= 2; fd++) if (dup2(TTY.fd, fd) < 0) fail(STEP_STDIO);
	if (TTY.fd > 2) close(TTY.fd);
	if (ioctl(0, TIOCSCTTY, 0)) fail(STEP_STDIO);
}

/*
 * The DNS network (src/jail/dnsNetwork.ts): a holder process, forked from tsjail, in a network
 * namespace of its own (and, rootless, a user namespace of its own: it owns that network) where
 * each resolver the jail connects to is a local address and tsjail's DNS server listens. A
 * rootless tsjail cannot enter that namespace (setns needs CAP_SYS_ADMIN in its own user
 * namespace), so the holder makes the sockets there and passes them over its channel
 * (SCM_RIGHTS); what is done with a socket after (bind, connect) happens in the network it was
 * made in. The holder touches no lock of Node's threads (no malloc after the fork).
 */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define STEP_DNS_FORK 110
#define STEP_DNS_UNSHARE 111
#define STEP_DNS_LOOPBACK 112
#define DNS_SOCKET 1  /* a socket of (family, type, protocol) in the DNS network */
#define DNS_ADDRESS 2 /* make address (family, bytes) local there, on lo */
#define DNS_LISTEN 3  /* a socket of (family, type, protocol) bound to address:53 there, listening if a stream */
#define DNS_TIMEOUT_MS 2000
#define DNS_LOCAL_WAIT_MS 1000 /* for a new address to be routed as local (dns_add_address) */

struct dns_request { uint32_t op, family, type, protocol; uint8_t address[16]; };
struct dns_reply { int32_t step, error; };

static void dns_reply(int chan, int32_t step, int32_t error, int fd) {
	struct dns_reply r = { step, error };
	struct iovec iov = { &r, sizeof r };
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(control, 0, sizeof control);
		m.msg_control = control;
		m.msg_controllen = sizeof control;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	sendmsg(chan, &m, MSG_NOSIGNAL);
}

/* Appends attribute `type` (len bytes of data) to netlink message h. */
static void nl_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len) {
	struct rtattr *r = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	r->rta_type = type;
	r->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(r), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(r->rta_len);
}

/* Sends netlink request h to the kernel and reads its one reply into `reply`; 0 or the errno. */
static int nl_ask(struct nlmsghdr *h, void *reply, size_t size) {
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) return errno;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int err = 0;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) err = errno;
	ssize_t n = err ? -1 : recv(fd, reply, size, 0);
	if (!err && n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) err = n < 0 ? errno : EPROTO;
	close(fd);
	return err;
}

union nl_buffer { struct nlmsghdr h; char bytes[512]; };

/* The error a netlink reply carries (an ack's, 0 for none). */
static int nl_error(const union nl_buffer *r) {
	return r->h.nlmsg_type == NLMSG_ERROR ? -((const struct nlmsgerr *)NLMSG_DATA(&r->h))->error : 0;
}

/* Is `address` local, by the route the kernel gives to it (RTM_GETROUTE: RTN_LOCAL)? */
static int dns_is_local(uint32_t family, const uint8_t *address, size_t len) {
	union nl_buffer req, reply;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	struct rtmsg *rt = NLMSG_DATA(&req.h);
	rt->rtm_family = (uint8_t)family;
	rt->rtm_dst_len = (uint8_t)(len * 8);
	nl_attr(&req.h, RTA_DST, address, len);
	if (nl_ask(&req.h, &reply, sizeof reply) || reply.h.nlmsg_type != RTM_NEWROUTE) return 0;
	return ((struct rtmsg *)NLMSG_DATA(&reply.h))->rtm_type == RTN_LOCAL;
}

/*
 * An address of its own on lo (RTM_NEWADDR; IPv6 without duplicate address detection), returned
 * once the kernel routes it as local: an IPv6 address's local route comes from a work queue
 * after the add, and a socket that connected before it keeps a route that forwards (drops) what
 * it sends.
 */
static int dns_add_address(uint32_t family, const uint8_t *address) {
	size_t len = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	if (!len) return EAFNOSUPPORT;
	union nl_buffer req, reply;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.h.nlmsg_type = RTM_NEWADDR;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	struct ifaddrmsg *a = NLMSG_DATA(&req.h);
	a->ifa_family = (uint8_t)family;
	a->ifa_prefixlen = (uint8_t)(len * 8);
	a->ifa_flags = IFA_F_NODAD | IFA_F_PERMANENT;
	a->ifa_scope = RT_SCOPE_HOST;
	a->ifa_index = 1; /* lo: the first interface of every network namespace */
	nl_attr(&req.h, IFA_LOCAL, address, len);
	nl_attr(&req.h, IFA_ADDRESS, address, len);
	int err = nl_ask(&req.h, &reply, sizeof reply);
	if (!err) err = nl_error(&reply);
	if (err && err != EEXIST) return err;
	for (int tries = 0; tries < DNS_LOCAL_WAIT_MS; tries++) {
		if (dns_is_local(family, address, len)) return 0;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	return ETIMEDOUT;
}

/* Binds `fd` to address:53 (a stream also listens): where tsjail's DNS server takes the jail's queries. */
static int dns_listen(int fd, uint32_t family, uint32_t type, const uint8_t *address) {
	struct sockaddr_storage a;
	memset(&a, 0, sizeof a);
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
		v4->sin_family = AF_INET;
		v4->sin_port = htons(53);
		memcpy(&v4->sin_addr, address, 4);
		len = sizeof *v4;
	} else {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(53);
		memcpy(&v6->sin6_addr, address, 16);
		len = sizeof *v6;
		int one = 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) return errno;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)) return errno;
	if (bind(fd, (struct sockaddr *)&a, len)) return errno;
	if (type == SOCK_STREAM && listen(fd, 128)) return errno;
	return 0;
}

static void dns_holder_main(int chan, pid_t parent) {
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(1);
	/* Nothing of tsjail's stays open here (a pipe's write end held would keep its reader waiting). */
	if (chan != 3) { dup2(chan, 3); chan = 3; }
	if (syscall(SYS_close_range, 0, 2, 0) || syscall(SYS_close_range, 4, ~0U, 0)) _exit(1);
	/* As root a network namespace is enough; rootless, a user namespace of its own owns it. */
	if ((geteuid() || unshare(CLONE_NEWNET)) && unshare(CLONE_NEWUSER | CLONE_NEWNET)) { dns_reply(chan, STEP_DNS_UNSHARE, errno, -1); _exit(1); }
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr))) { dns_reply(chan, STEP_DNS_LOOPBACK, errno, -1); _exit(1); }
	close(s);
	dns_reply(chan, 0, 0, -1);
	for (;;) {
		struct dns_request q;
		ssize_t n = recv(chan, &q, sizeof q, 0);
		if (n == 0 || (n < 0 && errno != EINTR)) _exit(0); /* tsjail has closed the channel, or is gone */
		if (n != (ssize_t)sizeof q) { if (n > 0) dns_reply(chan, 0, EINVAL, -1); continue; }
		if (q.op == DNS_ADDRESS) { dns_reply(chan, 0, dns_add_address(q.family, q.address), -1); continue; }
		if (q.op != DNS_SOCKET && q.op != DNS_LISTEN) { dns_reply(chan, 0, EINVAL, -1); continue; }
		int fd = socket((int)q.family, (int)(q.type | SOCK_CLOEXEC), (int)q.protocol);
		int err = fd < 0 ? errno : 0;
		if (!err && q.op == DNS_LISTEN) err = dns_listen(fd, q.family, q.type, q.address);
		if (err && fd >= 0) { close(fd); fd = -1; }
		dns_reply(chan, 0, err, fd);
		if (fd >= 0) close(fd);
	}
}

/* Waits for the holder's reply (at most DNS_TIMEOUT_MS), taking the fd it carries into *fd. */
static int dns_receive(int chan, struct dns_reply *r, int *fd) {
	struct pollfd p = { chan, POLLIN, 0 };
	int ready;
	while ((ready = poll(&p, 1, DNS_TIMEOUT_MS)) < 0 && errno == EINTR) {}
	if (ready <= 0) return ready ? errno : ETIMEDOUT;
	struct iovec iov = { r, sizeof *r };
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	ssize_t n = recvmsg(chan, &m, MSG_CMSG_CLOEXEC);
	if (n != (ssize_t)sizeof *r) return n < 0 ? errno : EPIPE;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return 0;
}

/*
 * Starts the holder: result = [channel, pid, failed step, errno]. Returns 0 once its network is
 * up, or -1 (the holder, if it was made, has ended and is reaped).
 */
int tsjail_dns_holder(int32_t *result) {
	int sv[2];
	result[0] = result[1] = -1;
	result[2] = STEP_DNS_FORK;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) { result[3] = errno; return -1; }
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) { result[3] = errno; close(sv[0]); close(sv[1]); return -1; }
	if (pid == 0) { dns_holder_main(sv[1], parent); _exit(1); }
	close(sv[1]);
	struct dns_reply r = { STEP_DNS_FORK, 0 };
	int fd = -1;
	int err = dns_receive(sv[0], &r, &fd);
	if (err || r.error) {
		result[2] = err ? STEP_DNS_FORK : r.step;
		result[3] = err ? err : r.error;
		close(sv[0]);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
		return -1;
	}
	result[0] = sv[0];
	result[1] = pid;
	result[2] = result[3] = 0;
	return 0;
}

/* One request to the holder (struct dns_request): 0 and, for DNS_SOCKET, *fd; or the errno. */
int tsjail_dns_request(int chan, const struct dns_request *q, int32_t *fd) {
	*fd = -1;
	if (send(chan, q, sizeof *q, MSG_NOSIGNAL) != (ssize_t)sizeof *q) return errno;
	struct dns_reply r = { 0, 0 };
	int got = -1;
	int err = dns_receive(chan, &r, &got);
	if (!err && r.error) err = r.error;
	if (err && got >= 0) close(got);
	if (!err) *fd = got;
	return err;
}

/* The jail's flags of its fd `fd` (the `flags:` line of /proc/TID/fdinfo/FD, octal), or -1. */
static long jail_fd_flags(pid_t tid, int fd) {
	char path[64], text[512];
	snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", tid, fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) return -1;
	ssize_t n = read(f, text, sizeof text - 1);
	close(f);
	if (n <= 0) return -1;
	text[n] = 0;
	char *at = strstr(text, "flags:");
	return at ? strtol(at + 6, NULL, 8) : -1;
}

/*
 * A stopped connect to a resolver: `sock` (a socket tsjail got from the holder, of the jail
 * socket's family and type) takes the jail socket's place at the jail's fd number
 * (SECCOMP_IOCTL_NOTIF_ADDFD with SETFD, so it is the jail's fd from now on, its O_NONBLOCK and
 * close-on-exec kept) and the job's socket, so tsjail_net_finish connects it: in the DNS
 * network. It is first bound to a port of its own, which tells tsjail's server whose socket it
 * is. Returns that port, or -errno (ENOENT: the call no longer waits); `sock` is the job's, or
 * closed, either way.
 */
/* The options a resolver library sets on its socket before connecting (glibc: IP_RECVERR;
 * others: buffers, timeouts, v6only), copied from the jail's socket to its replacement. A value
 * the replacement does not take is left: the query still goes, as the jail asked. */
static void copy_socket_options(int from, int to, int domain) {
	static const int opts[][2] = {
		{ SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF }, { SOL_SOCKET, SO_RCVTIMEO }, { SOL_SOCKET, SO_SNDTIMEO },
		{ SOL_SOCKET, SO_TIMESTAMP }, { SOL_SOCKET, SO_PRIORITY }, { SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_LINGER },
		{ IPPROTO_IP, IP_RECVERR }, { IPPROTO_IP, IP_TOS }, { IPPROTO_IP, IP_TTL },
		{ IPPROTO_IPV6, IPV6_RECVERR }, { IPPROTO_IPV6, IPV6_V6ONLY }, { IPPROTO_IPV6, IPV6_TCLASS }, { IPPROTO_IPV6, IPV6_UNICAST_HOPS },
		{ IPPROTO_TCP, TCP_NODELAY },
	};
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
		if ((opts[i][0] == IPPROTO_IP && domain != AF_INET) || (opts[i][0] == IPPROTO_IPV6 && domain != AF_INET6)) continue;
		uint8_t value[64];
		socklen_t len = sizeof value;
		if (getsockopt(from, opts[i][0], opts[i][1], value, &len)) continue;
		/* The kernel reports a buffer size doubled (its bookkeeping), and doubles what it is given. */
		if (opts[i][0] == SOL_SOCKET && (opts[i][1] == SO_RCVBUF || opts[i][1] == SO_SNDBUF) && len == sizeof(int)) *(int *)value /= 2;
		(void)setsockopt(to, opts[i][0], opts[i][1], value, len);
	}
}

int tsjail_net_redirect(struct net_job *j, int sock) {
	long flags = jail_fd_flags(j->tid, j->jail_fd);
	copy_socket_options(j->fd, sock, j->domain);
	struct sockaddr_storage local;
	memset(&local, 0, sizeof local);
	local.ss_family = (sa_family_t)j->domain;
	socklen_t ll = j->domain == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int err = 0;
	if (flags < 0) err = EBADF;
	if (!err && (flags & O_NONBLOCK) && fcntl(sock, F_SETFL, O_NONBLOCK)) err = errno;
	if (!err && bind(sock, (struct sockaddr *)&local, ll)) err = errno;
	if (!err && getsockname(sock, (struct sockaddr *)&local, &ll)) err = errno;
	struct seccomp_notif_addfd add = {
		.id = j->id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = (uint32_t)sock, .newfd = (uint32_t)j->jail_fd,
		.newfd_flags = (uint32_t)(flags & O_CLOEXEC),
	};
	if (!err && ioctl(j->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0) err = errno;
	if (err) { close(sock); return -err; }
	close(j->fd);
	j->fd = sock;
	return ntohs(((struct sockaddr_in *)&local)->sin_port);
}
