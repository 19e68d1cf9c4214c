// The built-in policy of `tsjail run`: a Docker-class allowlist for the native ABI. Unknown
// syscalls get ENOSYS (so libc falls back, e.g. clone3 → clone); the dangerous ones get EPERM,
// each for a reason written in SYSCALLS.md; other ABIs (i386 `int 0x80`, x32) are killed.
import { hostAbi } from '../arch/abi';
import { AF_VSOCK, CLONE_NAMESPACE_FLAGS, TIOCLINUX, TIOCSETD, TIOCSTI } from '../kernel/constants';
import { allow, definePolicy, errno, hasAll, hasNone, named, noneOf, quiet } from '../policy/dsl';
import type { Policy } from '../policy/model';
import type { SyscallName } from '../syscalls/table';

/** Allowed without conditions: what ordinary programs (shells, python, node, git, gcc) use. */
export const DEFAULT_ALLOWED: readonly SyscallName[] = [
  // files and directories
  'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2', 'open', 'openat',
  'openat2', 'creat', 'close', 'close_range', 'lseek', '_llseek', 'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'stat64',
  'fstat64', 'lstat64', 'fstatat64', 'statfs', 'fstatfs', 'statfs64', 'fstatfs64', 'access', 'faccessat', 'faccessat2',
  'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir', 'mkdir', 'mkdirat', 'rmdir', 'rename', 'renameat', 'renameat2',
  'link', 'linkat', 'unlink', 'unlinkat', 'symlink', 'symlinkat', 'readlink', 'readlinkat', 'chmod', 'fchmod', 'fchmodat',
  'fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat', 'chown32', 'fchown32', 'lchown32', 'umask', 'truncate', 'ftruncate',
  'truncate64', 'ftruncate64', 'fallocate', 'fadvise64', 'fadvise64_64', 'readahead', 'fsync', 'fdatasync', 'sync',
  'syncfs', 'sync_file_range', 'utime', 'utimes', 'utimensat', 'futimesat', 'mknod', 'mknodat', 'flock', 'fcntl', 'fcntl64',
  'dup', 'dup2', 'dup3', 'pipe', 'pipe2', 'sendfile', 'sendfile64', 'splice', 'tee', 'vmsplice', 'copy_file_range',
  'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'setxattr', 'lsetxattr', 'fsetxattr',
  'removexattr', 'lremovexattr', 'fremovexattr', 'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
  'memfd_create', 'name_to_handle_at', 'ioctl', 'cachestat',
  // memory
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'msync', 'mincore', 'mlock', 'mlock2', 'munlock',
  'mlockall', 'munlockall', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'mseal',
  // processes and threads
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'kill', 'tkill', 'tgkill', 'getpid',
  'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'set_tid_address', 'set_robust_list',
  'get_robust_list', 'futex', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue', 'rseq', 'arch_prctl', 'prctl',
  'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_getscheduler', 'sched_getattr',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'getpriority', 'setpriority', 'getrlimit',
  'setrlimit', 'prlimit64', 'ugetrlimit', 'getrusage', 'times', 'capget', 'capset', 'pidfd_open', 'pidfd_send_signal', 'seccomp',
  'getcpu', 'restart_syscall', 'ioprio_get', 'ioprio_set',
  // identity (changes are bounded by the capabilities the jail dropped)
  'getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setuid', 'setgid', 'setreuid',
  'setregid', 'setresuid', 'setresgid', 'setgroups', 'setfsuid', 'setfsgid',
  // signals
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigqueueinfo',
  'rt_tgsigqueueinfo', 'sigaltstack', 'signalfd', 'signalfd4', 'sigreturn', 'sigaction', 'sigprocmask', 'pause', 'alarm',
  // time
  'clock_gettime', 'clock_getres', 'clock_nanosleep', 'gettimeofday', 'nanosleep', 'time', 'getitimer', 'setitimer',
  'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete', 'timerfd_create',
  'timerfd_settime', 'timerfd_gettime', 'clock_gettime64', 'clock_nanosleep_time64', 'clock_getres_time64',
  // polling and events
  'poll', 'ppoll', 'select', '_newselect', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait',
  'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents',
  'io_pgetevents',
  // sockets (the network itself is separated by namespaces, not by this list)
  'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername', 'sendto', 'recvfrom',
  'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'shutdown', 'setsockopt', 'getsockopt',
  // System V IPC and POSIX message queues (in the jail's own IPC namespace)
  'shmget', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd', 'msgrcv', 'msgctl',
  'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr',
  // system information
  'uname', 'sysinfo', 'getrandom',
  // sandboxing oneself further (Landlock only takes rights away)
  'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
];

/** Refused with EPERM: each breaks the jail or reaches the host kernel's soft spots (SYSCALLS.md). */
export const DEFAULT_DENIED: Readonly<Record<string, readonly SyscallName[]>> = {
  'process inspection': ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise'],
  'mounts and roots': ['mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount',
    'open_tree', 'open_tree_attr', 'mount_setattr'],
  'namespaces': ['unshare', 'setns'],
  'keyrings': ['keyctl', 'add_key', 'request_key'],
  'kernel attack surface': ['bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  'file handles': ['open_by_handle_at'],
  'kernel modules and kexec': ['init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load'],
  'host administration': ['reboot', 'swapon', 'swapoff', 'acct', 'syslog', 'settimeofday', 'clock_settime', 'clock_adjtime',
    'adjtimex', 'sethostname', 'setdomainname', 'quotactl', 'quotactl_fd', 'iopl', 'ioperm', 'lookup_dcookie', 'vhangup',
    'nfsservctl', 'fanotify_init', 'fanotify_mark'],
};

/** Each namespace flag on its own: clone with any of them set is refused. */
const NAMESPACE_BITS = Array.from({ length: 32 }, (_, i) => (1 << i) >>> 0).filter((b) => (CLONE_NAMESPACE_FLAGS & b) !== 0);

/** personality() values that change nothing dangerous: query, Linux, 32-bit, UNAME26 variants. */
export const HARMLESS_PERSONALITIES = [0, 8, 0x20000, 0x20008, 0xffffffff] as const;

export function defaultPolicy(): Policy {
  return definePolicy({
    default: errno('ENOSYS'),
    badArch: 'kill',
    arches: [hostAbi().name],
    rules: [
      named('allowlist', allow(DEFAULT_ALLOWED)),
      Object.entries(DEFAULT_DENIED).map(([label, names]) => named(label, errno('EPERM', names))),
      named('socket', allow('socket')),
      // vsock's port space is the host's, not the network namespace's: -n would not isolate it.
      named('vsock sockets', errno('EPERM', 'socket', { family: AF_VSOCK })),
      named('clone without namespaces', allow('clone', { clone_flags: hasNone(CLONE_NAMESPACE_FLAGS) })),
      named('clone with namespaces', errno('EPERM', 'clone', { clone_flags: NAMESPACE_BITS.map((bit) => hasAll(bit)) })),
      // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone.
      quiet(named('clone3', errno('ENOSYS', 'clone3'))),
      named('terminal injection', errno('EPERM', 'ioctl', { cmd: [TIOCSTI, TIOCLINUX] })),
      // Its argument is a pointer (to the discipline number), out of a filter's reach, so all of it:
      // N_TTY, the one programs need, is every terminal's discipline already.
      named('line disciplines', errno('EPERM', 'ioctl', { cmd: TIOCSETD })),
      named('personality', allow('personality', { personality: [...HARMLESS_PERSONALITIES] })),
      named('personality', errno('EPERM', 'personality', { personality: noneOf(HARMLESS_PERSONALITIES) })),
    ],
  });
}
