// Measures the calls runc and crun make after they load a container's seccomp filter (so before
// and around the container program's execve): `npm run build && node dist/scripts/measure-runtime-calls.js [RUNS]`,
// as root on the host (the audit records of the whole machine are read). It prints the module
// src/jail/runtimeCalls.ts holds (its MEASURED table); a change is reviewed, never copied in blindly.
//
// How: a trivial container runs with a profile whose default action is SCMP_ACT_LOG, so every call
// under the filter is let through and the kernel writes an audit record (type 1326: pid, exe,
// syscall number). The records are read from the audit netlink socket's read-only multicast
// group (CAP_AUDIT_READ; dmesg would drop most of them to its rate limit). The container's pid
// comes from --pid-file; its records made by the runtime's binary, not the program's, are the
// runtime's. Each configuration runs RUNS times (default 5): Go's threads call by timing.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hostAbi } from '../src/arch/abi';
import { builtinAllowsUnconditionally } from '../src/jail/learnClasses';
import { ABIS } from '../src/arch/abi';
import { runContainer, type ContainerRuntime } from './run-container';
import { syscallName } from '../src/syscalls/table';

const AUDIT_SECCOMP = 1326;
/** Joins AUDIT_NLGRP_READLOG (group 1) of NETLINK_AUDIT (9) and prints each seccomp record's text. */
const LISTENER = `
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: a burst of records must not overflow it
s.bind((0, 1))
print('ready', flush=True)
while True:
    try:
        d = s.recv(1 << 16)
    except OSError as e:
        if e.errno != 105: raise
        print('lost', flush=True)  # ENOBUFS: the socket overflowed, records were dropped
        continue
    length, kind = struct.unpack_from('=IH', d)
    if kind == ${AUDIT_SECCOMP}: print(d[16:length].decode(errors='replace'), flush=True)
`;
/** The program the container runs: its own calls are the program's, not the runtime's. */
const PROGRAM = '/bin/true';
const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

/** A container configuration: the runtimes take other paths with and without no_new_privs, as root or not. */
interface Setup { readonly noNewPrivileges: boolean; readonly uid: number }
const SETUPS: readonly Setup[] = [
  { noNewPrivileges: true, uid: 0 }, { noNewPrivileges: false, uid: 0 },
  { noNewPrivileges: true, uid: 1000 }, { noNewPrivileges: false, uid: 1000 },
];
const setupName = (s: Setup): string => `${s.noNewPrivileges ? 'nnp' : 'no-nnp'} uid ${s.uid}`;
const RUNTIMES: readonly ContainerRuntime[] = ['runc', 'crun'];

const work = mkdtempSync(join(tmpdir(), 'tsjail-measure-'));
chmodSync(work, 0o755);

function bundle(setup: Setup): string {
  const dir = mkdtempSync(join(work, 'b-'));
  chmodSync(dir, 0o755);
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'proc', 'dev', 'sys']) mkdirSync(join(dir, 'rootfs', d), { recursive: true });
  // What containerd gives a pod's container (the runtime-spec defaults): these capabilities, the
  // user of the image, and no_new_privs only with allowPrivilegeEscalation: false.
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: setup.uid, gid: setup.uid, additionalGids: [setup.uid + 1] }, args: [PROGRAM], env: ['PATH=/usr/bin:/bin'], cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS }, noNewPrivileges: setup.noNewPrivileges },
    root: { path: 'rootfs', readonly: true },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      ...['/usr', '/lib', '/lib64', '/bin'].map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })),
    ],
    linux: {
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })),
      seccomp: { defaultAction: 'SCMP_ACT_LOG', architectures: [`SCMP_ARCH_${hostAbi().name.toUpperCase()}`], syscalls: [] },
    },
  }));
  return dir;
}

/** Runs the container; its pid (from --pid-file). */
function runOnce(runtime: ContainerRuntime, dir: string, id: string): number {
  const pidFile = join(dir, 'pid');
  const r = runContainer(runtime, dir, id, ['--pid-file', pidFile]);
  if (r.status !== 0) throw new Error(`${runtime} failed (${r.status}): ${r.stderr}`);
  return Number(readFileSync(pidFile, 'utf8'));
}

const release = (): string => readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const version = (runtime: ContainerRuntime): string => /version (\S+)/.exec(spawnSync(runtime, ['--version'], { encoding: 'utf8' }).stdout)![1]!;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const listener = spawn('python3', ['-c', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: listener.stdout! });
  const records: string[] = [];
  await new Promise<void>((ready, fail) => {
    listener.once('exit', (code) => fail(new Error(`the audit listener exited ${code} (root, CAP_AUDIT_READ and the host's network namespace needed)`)));
    lines.on('line', (l) => (l === 'ready' ? ready() : records.push(l)));
  });
  // runtime → syscall → the setups it was seen in, and in how many runs
  const seen = new Map<ContainerRuntime, Map<string, { setups: Set<string>; runs: number }>>();
  const containers: { runtime: ContainerRuntime; setup: string; pid: number }[] = [];
  for (const runtime of RUNTIMES) {
    for (const setup of SETUPS) {
      for (let i = 0; i < runs; i++) {
        const dir = bundle(setup);
        containers.push({ runtime, setup: setupName(setup), pid: runOnce(runtime, dir, `tsjail-measure-${process.pid}-${containers.length}`) });
      }
    }
  }
  // The last records reach the socket after the container is gone.
  await new Promise((r) => setTimeout(r, 1000));
  listener.kill();
  if (records.includes('lost')) throw new Error('the audit socket overflowed and records were lost: measure again');
  for (const c of containers) {
    const names = new Set<string>();
    for (const rec of records) {
      const m = / pid=(\d+) .* exe="([^"]*)" .* arch=([0-9a-f]+) syscall=(\d+) /.exec(rec);
      if (!m || Number(m[1]) !== c.pid || m[2] === PROGRAM) continue;
      if (parseInt(m[3]!, 16) !== hostAbi().auditArch) throw new Error(`a call through another ABI: ${rec}`);
      names.add(syscallName(hostAbi(), Number(m[4])) ?? `syscall ${m[4]}`);
    }
    if (!names.has('execve')) throw new Error(`no execve of ${c.runtime} (pid ${c.pid}) was seen: records were lost`);
    const table = seen.get(c.runtime) ?? seen.set(c.runtime, new Map()).get(c.runtime)!;
    for (const n of names) {
      const e = table.get(n) ?? table.set(n, { setups: new Set(), runs: 0 }).get(n)!;
      e.setups.add(c.setup);
      e.runs++;
    }
  }
  rmSync(work, { recursive: true, force: true });
  const total = runs * SETUPS.length;
  console.log(`// Measured with ${RUNTIMES.map((r) => `${r} ${version(r)}`).join(' and ')} on ${hostAbi().name}, Linux ${release()}: ${runs} runs of each`);
  console.log(`// of ${SETUPS.length} setups (${SETUPS.map(setupName).join('; ')}), by:`);
  console.log(`//   npm run build && node dist/scripts/measure-runtime-calls.js ${runs}   (as root)`);
  console.log('export const MEASURED: Readonly<Record<MeasuredRuntime, readonly SyscallName[]>> = {');
  for (const runtime of RUNTIMES) {
    console.log(`  ${runtime}: [`);
    for (const [name, e] of [...seen.get(runtime)!].sort(([a], [b]) => a.localeCompare(b))) {
      const where = `${e.runs}/${total} runs${e.setups.size === SETUPS.length ? '' : `: ${[...e.setups].join(', ')}`}`;
      // A runtime's need never adds a call the built-in policy refuses or pins.
      console.log(builtinAllowsUnconditionally(ABIS.x86_64, name) ? `    '${name}', // ${where}` : `    // NOT ADDED, the built-in policy refuses it or pins its arguments: '${name}' (${where})`);
    }
    console.log('  ],');
  }
  console.log('};');
}

main().catch((e: Error) => { console.error(`measure-runtime-calls: ${e.message}`); process.exit(1); });
