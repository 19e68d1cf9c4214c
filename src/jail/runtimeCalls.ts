// The calls a container runtime makes after it loads the container's seccomp filter: runc's
// standard init (its Go threads are under the filter too: libseccomp loads it with TSYNC) from the
// load to the program's execve; crun's container process from its load to its execve. Without
// no_new_privs both load the filter before they drop capabilities and change ids, so those calls
// come under it too. `tsjail learn --format json --for RUNTIME` adds them to the learned profile.
import type { SyscallName } from '../syscalls/table';

/** The runtimes measured. */
export type MeasuredRuntime = 'runc' | 'crun';

// Measured with runc 1.1.5+ds1 and crun 1.8.1 on x86_64, Linux 6.18.44-fc-v1045: 30 runs of each
// of 4 setups (nnp uid 0; no-nnp uid 0; nnp uid 1000; no-nnp uid 1000), by:
//   npm run build && node dist/scripts/measure-runtime-calls.js 30   (as root)
export const MEASURED: Readonly<Record<MeasuredRuntime, readonly SyscallName[]>> = {
  runc: [
    'capget', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'capset', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'chdir', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'close', // 120/120 runs
    'epoll_ctl', // 120/120 runs
    'execve', // 120/120 runs
    'faccessat2', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'fchown', // 30/120 runs: no-nnp uid 1000
    'fcntl', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'fstat', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'fstatfs', // 120/120 runs
    'futex', // 15/120 runs
    'getcwd', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'getdents64', // 120/120 runs
    'getpid', // 120/120 runs
    'getppid', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'newfstatat', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'openat', // 120/120 runs
    'prctl', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'read', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'setgid', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'setgroups', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'setuid', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'write', // 120/120 runs
  ],
  crun: [
    'capset', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'close', // 120/120 runs
    'execve', // 120/120 runs
    'prctl', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'rt_sigaction', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'rt_sigprocmask', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'setresgid', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'setresuid', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
    'write', // 60/120 runs: no-nnp uid 0, no-nnp uid 1000
  ],
};

/** The runtimes --for names: k8s is a kubelet localhost profile, run by containerd with runc. */
export const RUNTIMES = ['runc', 'crun', 'k8s'] as const;
export type Runtime = (typeof RUNTIMES)[number];

const MEASURED_AS: Readonly<Record<Runtime, MeasuredRuntime>> = { runc: 'runc', crun: 'crun', k8s: 'runc' };

/**
 * What --for RUNTIME adds: the measured calls, and whether the runtime's threads run under the
 * filter. Those also make the timing-dependent calls of threaded programs (THREAD_TIMING_SYSCALLS
 * in learnClasses.ts) whether a measurement saw them or not (runc's futex was seen in about one
 * run of eight): runc is a Go program; crun is single-threaded.
 */
export function runtimeCalls(runtime: Runtime): { readonly calls: readonly SyscallName[]; readonly threaded: boolean } {
  const measured = MEASURED_AS[runtime];
  return { calls: MEASURED[measured], threaded: measured === 'runc' };
}

