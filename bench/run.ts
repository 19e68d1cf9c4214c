// `npm run bench`: tsjail's compiler side by side with libseccomp (default and OPTIMIZE=2) in
// the same run, on the same profiles; writes bench/RESULTS.md.
//
// libseccomp's rules come from test/helpers/libseccomp_oci.py (runc's translation of an OCI
// profile); its compile time is measured in C (generated here, linked with -lseccomp), ours
// in-process. Program figures for both come from the same kernel-exact emulator.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ABIS } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { decodeProgram, type Instruction } from '../src/kernel/instruction';
import { meanPerCall, programStats, worstPath, type ProgramStats } from '../src/analysis/stats';
import { parseWeights } from '../src/policy/weights';
import { readLearned } from '../src/jail/learn';
import { profileOf } from '../src/jail/learnClasses';
import { defaultPolicy } from '../src/jail/defaultPolicy';
import { evaluatePolicy } from '../src/policy/evaluate';
import { SECCOMP_RET_ALLOW } from '../src/kernel/seccomp';
import { importOci } from '../src/formats/oci';
import { syscallNumber, syscallsOf } from '../src/syscalls/table';
import { REPO_ROOT, upstreamPath } from '../scripts/upstream';

const PYTHON = '/usr/bin/python3';
// Under /var/tmp: a jail's /tmp is its own, and the programs built here run in jails.
const work = mkdtempSync(join('/var/tmp', 'tsjail-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const x86_64 = ABIS.x86_64;

interface Case { name: string; profile: unknown }

function loadJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function x86Only(profile: unknown): unknown {
  const { archMap: _drop, ...rest } = profile as Record<string, unknown>;
  return { ...rest, architectures: ['SCMP_ARCH_X86_64'] };
}

const CASES: Case[] = [
  { name: "Docker default, x86_64 only", profile: x86Only(loadJson(upstreamPath('moby/default.json'))) },
  { name: "Docker default, x86_64 + x86 + x32", profile: loadJson(upstreamPath('moby/default.json')) },
  { name: "podman default, x86_64 + x86 + x32", profile: loadJson(upstreamPath('containers-common/seccomp.json')) },
  { name: 'small strict allowlist, x86_64', profile: loadJson(join(REPO_ROOT, 'bench/strict.json')) },
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeTsjail(profile: unknown, runs: number): { ms: number; program: readonly Instruction[] } {
  const compile = () => compileProgram(importOci(profile, { hostArch: 'x86_64', kernel: '6.1' }).policy);
  for (let i = 0; i < 20; i++) compile();
  const times: number[] = [];
  let program: readonly Instruction[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    program = compile().instructions;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), program };
}

type Call = [string, number | null, string, [number, string, number, number][]];

function cAction(action: string, errnoRet: number | null): string {
  switch (action) {
    case 'SCMP_ACT_ERRNO': return `SCMP_ACT_ERRNO(${errnoRet ?? 1})`;
    case 'SCMP_ACT_TRACE': return `SCMP_ACT_TRACE(${errnoRet ?? 1})`;
    default: return action;
  }
}

/** A C program that builds the profile with libseccomp `runs` times and exports it once; `priorities`: seccomp_syscall_priority per syscall name. */
function libseccompHarness(profile: unknown, priorities: readonly (readonly [string, number])[] = []): { binary: string } {
  const file = join(work, `p${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(profile));
  const r = spawnSync(PYTHON, [join(REPO_ROOT, 'test/helpers/libseccomp_oci.py'), file, 'x86_64', '', '6.1', join(work, 'ignored.bpf')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const meta = JSON.parse(r.stdout) as { arches: string[]; calls: Call[]; default: [string, number | null] };
  const rules = meta.calls.map(([action, errnoRet, name, conds]) => {
    const cmps = conds.map(([i, op, v1, v2]) => `SCMP_CMP(${i}, ${op}, ${v1}ULL, ${v2}ULL)`).join(', ');
    return `\tADD(${cAction(action, errnoRet)}, "${name}", ${conds.length}${cmps ? `, ${cmps}` : ''});`;
  });
  const source = `#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#define ADD(act, name, n, ...) do { int nr = seccomp_syscall_resolve_name(name); \\
	if (nr != __NR_SCMP_ERROR) seccomp_rule_add(ctx, act, nr, n, ##__VA_ARGS__); } while (0)
#define PRIORITY(name, p) do { int nr = seccomp_syscall_resolve_name(name); \\
	if (nr != __NR_SCMP_ERROR) seccomp_syscall_priority(ctx, nr, p); } while (0)
static scmp_filter_ctx build(int optimize) {
	scmp_filter_ctx ctx = seccomp_init(${cAction(...meta.default)});
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize);
	seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
${meta.arches.map((a) => `\tseccomp_arch_add(ctx, SCMP_ARCH_${a.toUpperCase()});`).join('\n')}
${rules.join('\n')}
${priorities.map(([name, p]) => `\tPRIORITY("${name}", ${p});`).join('\n')}
	return ctx;
}
int main(int argc, char **argv) {
	int optimize = atoi(argv[1]), runs = atoi(argv[2]);
	int devnull = open("/dev/null", O_WRONLY);
	double *t = malloc(sizeof(double) * runs);
	for (int i = 0; i < runs + 20; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		scmp_filter_ctx ctx = build(optimize);
		seccomp_export_bpf(ctx, devnull);
		seccomp_release(ctx);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (i >= 20) t[i - 20] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	}
	for (int i = 0; i < runs; i++) for (int j = i + 1; j < runs; j++) if (t[j] < t[i]) { double x = t[i]; t[i] = t[j]; t[j] = x; }
	scmp_filter_ctx ctx = build(optimize);
	int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	seccomp_export_bpf(ctx, fd);
	printf("%.4f\\n", t[runs / 2]);
	return 0;
}
`;
  const c = join(work, `h${Math.random().toString(36).slice(2)}.c`);
  writeFileSync(c, source);
  const binary = c.replace(/\.c$/, '');
  execFileSync('cc', ['-O2', '-o', binary, c, '-lseccomp']);
  return { binary };
}

function timeLibseccomp(binary: string, optimize: 1 | 2, runs: number): { ms: number; program: Instruction[]; file: string } {
  const file = join(work, `lsc-${optimize}-${Math.random().toString(36).slice(2)}.bpf`);
  const ms = Number(execFileSync(binary, [String(optimize), String(runs), file], { encoding: 'utf8' }));
  return { ms, program: decodeProgram(new Uint8Array(readFileSync(file)), 'little'), file };
}

const LOOP = join(work, 'syscall-loop');

/** ns per call of a syscall under a filter: the median of 5 runs. */
function nsPerCall(filter: string, call: readonly [number, ...number[]]): number {
  const runs = Array.from({ length: 5 }, () => Number(execFileSync(LOOP, [filter, String(call[0]), '300000', ...call.slice(1).map(String)], { encoding: 'utf8' })));
  return median(runs);
}

interface Row { tool: string; ms: number; stats: ProgramStats; file: string }

function writeFilter(program: readonly Instruction[], name: string): string {
  const file = join(work, name);
  const buf = new Uint8Array(program.length * 8);
  const view = new DataView(buf.buffer);
  program.forEach((ins, i) => { view.setUint16(i * 8, ins.code, true); view.setUint8(i * 8 + 2, ins.jt); view.setUint8(i * 8 + 3, ins.jf); view.setUint32(i * 8 + 4, ins.k >>> 0, true); });
  writeFileSync(file, buf);
  return file;
}

/** Median wall time of `runs` runs of a command after one untimed run; undefined if that run fails. */
function wallTimeMs(cmd: readonly string[], runs: number): number | undefined {
  if (spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' }).status !== 0) return undefined;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/** Wall time of starting a trivial command in each sandbox, medians of 25 runs. */
function startupSection(): string[] {
  const time = (cmd: string[]): number | undefined => wallTimeMs(cmd, 25);
  const rows: [string, string[]][] = [
    ['`node -e 0` (Node\'s own start, the floor for a Node tool)', [process.execPath, '-e', '0']],
    ['`tsjail run -- /bin/true` (default jail: user (a private id range as root), pid, mount, ipc, uts, cgroup namespaces, /proc with masks, minimal /dev, default limits, caps dropped, seccomp)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--', '/bin/true']],
    ['`tsjail run --host-ids -- /bin/true` (as root: the host\'s ids, no user namespace)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--host-ids', '--', '/bin/true']],
    ['`tsjail run --policy bench/strict.json --no-cache -- /bin/true` (an OCI policy compiled at start)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--policy', join(REPO_ROOT, 'bench/strict.json'), '--no-cache', '--', '/bin/true']],
    ['`tsjail run --policy fixtures/bench-strict.ts --no-cache -- /bin/true` (the same in TypeScript, loaded and compiled at start)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--policy', join(REPO_ROOT, 'fixtures/bench-strict.ts'), '--no-cache', '--', '/bin/true']],
    ['`tsjail run --policy fixtures/bench-strict.ts -- /bin/true` (its filter and settings from the cache: every run after the first)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--policy', join(REPO_ROOT, 'fixtures/bench-strict.ts'), '--', '/bin/true']],
    ['`tsjail run --preset untrusted -- /bin/true` (the default jail with network rules from nothing: compiled at start, connects and sends stopped)', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--preset', 'untrusted', '--', '/bin/true']],
    ['`tsjail run --late -- /bin/true` (built-in policy; start-up calls decided by tsjail until main())', [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--late', '--', '/bin/true']],
    ['`bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true`', ['bwrap', '--unshare-all', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true']],
    ['`firejail --noprofile --quiet true`', ['firejail', '--noprofile', '--quiet', 'true']],
  ];
  const lines = ['### Jail start-up', '', '| command | wall time, median of 25 |', '|---|---:|'];
  for (const [label, cmd] of rows) {
    const ms = time(cmd);
    lines.push(`| ${label} | ${ms === undefined ? 'not installed' : `${ms.toFixed(1)} ms`} |`);
  }
  // Learn mode stops every syscall at tsjail: its cost grows with the number of calls.
  const tsjail = [process.execPath, join(REPO_ROOT, 'bin/tsjail.js')];
  const learnRows: [string, string[]][] = [
    ['/usr/bin/python3 -c pass', ['/usr/bin/python3', '-c', 'pass']],
    ['sh -c "ls -R /usr/share/doc >/dev/null"', ['sh', '-c', 'ls -R /usr/share/doc >/dev/null']],
  ];
  lines.push('', '### Learn mode slowdown', '', '| command | plain | `tsjail run` | `tsjail learn` | learn / run |', '|---|---:|---:|---:|---:|');
  for (const [label, cmd] of learnRows) {
    const plain = time(cmd)!;
    const run = time([...tsjail, 'run', '--', ...cmd])!;
    const learn = time([...tsjail, 'learn', '-o', '/dev/null', '--', ...cmd])!;
    lines.push(`| \`${label}\` | ${plain.toFixed(1)} ms | ${run.toFixed(1)} ms | ${learn.toFixed(1)} ms | ${(learn / run).toFixed(2)}x |`);
  }
  console.log('bench: start-up done');
  return [...lines, ''];
}

/** What --late saves: the syscalls a learned policy must allow, learned from exec vs from main() on; and what it costs. */
function lateSection(): string[] {
  const tsjail = [process.execPath, join(REPO_ROOT, 'bin/tsjail.js')];
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-bench-late-'));
  const programs: [string, string[]][] = [
    ['ls /usr', ['ls', '/usr']],
    ['python3 -c pass', ['/usr/bin/python3', '-c', 'pass']],
    ['sh -c "echo hi"', ['sh', '-c', 'echo hi']],
    ['git --version', ['git', '--version']],
    ['node -e 0', [process.execPath, '-e', '0']],
  ];
  const lines = [
    '### `--late`: syscalls a learned policy must allow', '',
    'Each program learned twice (`tsjail learn` and `tsjail learn --late`); distinct syscalls and calls as recorded. Run time:',
    'the learned policy run by `tsjail run` (wall time, median of 10; with --late, tsjail answers each start-up call the policy stops).', '',
    '| command | `learn`: syscalls (calls) | `learn --late`: syscalls (calls) | not needed with --late | run | run --late |', '|---|---:|---:|---|---:|---:|',
  ];
  for (const [label, cmd] of programs) {
    const learn = (late: boolean): { names: string[]; calls: number; ms: number } => {
      const file = join(dir, `${late ? 'late' : 'full'}.ts`);
      const r = spawnSync(tsjail[0]!, [...tsjail.slice(1), 'learn', ...(late ? ['--late'] : []), '-o', file, '--', ...cmd], { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`bench: tsjail learn ${late ? '--late ' : ''}${label} failed`);
      const table = Object.values(readLearned(readFileSync(file, 'utf8'), file).abis)[0] ?? {};
      const ms = wallTimeMs([...tsjail, 'run', '--policy', file, '--', ...cmd], 10);
      if (ms === undefined) throw new Error(`bench: tsjail run ${late ? '--late ' : ''}${label} under its learned policy failed`);
      return { names: Object.keys(table).sort(), calls: Object.values(table).reduce((n, e) => n + e.count, 0), ms };
    };
    const full = learn(false), late = learn(true);
    const saved = full.names.filter((n) => !late.names.includes(n));
    lines.push(`| \`${label}\` | ${full.names.length} (${full.calls}) | ${late.names.length} (${late.calls}) | ${saved.length}: ${saved.join(', ')} | ${full.ms.toFixed(1)} ms | ${late.ms.toFixed(1)} ms |`);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log('bench: late done');
  return [...lines, ''];
}

/** How much a generalized learned profile adds over the exact one, next to the built-in policy's size. */
function generalizeSection(): string[] {
  const tsjail = [process.execPath, join(REPO_ROOT, 'bin/tsjail.js')];
  const dir = mkdtempSync(join('/var/tmp', 'tsjail-bench-generalize-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'hello.c'), 'int main(void) { return 0; }\n');
  const programs: [string, string[]][] = [
    ['python3 -c "import json, os"', [PYTHON, '-c', 'import json, os; print(json.dumps(os.listdir(".")))']],
    ['node -e readdirSync', [process.execPath, '-e', 'console.log(require("fs").readdirSync(".").length)']],
    ['git init and status', ['sh', '-c', 'git init -q repo && git -C repo status --short']],
    ['gcc -c hello.c', ['gcc', '-c', '-o', 'hello.o', 'hello.c']],
    ['sh -c "echo hi > f; cat f"', ['sh', '-c', 'echo hi > f; cat f']],
  ];
  const builtin = defaultPolicy();
  const allowedByBuiltin = syscallsOf(x86_64).filter((e) => evaluatePolicy(builtin, [x86_64], { nr: e.nr, arch: x86_64.auditArch, args: [] }).ret >>> 0 === SECCOMP_RET_ALLOW).length;
  const lines = [
    '### Learned profiles generalize: syscalls allowed', '',
    `Each program learned once (\`tsjail learn\`); syscalls (x86_64) its exact profile (\`--exact\`) and its generalized profile allow, and the built-in policy (${allowedByBuiltin}).`, '',
    '| command | exact | generalized | added | built-in |', '|---|---:|---:|---:|---:|',
  ];
  for (const [label, cmd] of programs) {
    rmSync(join(dir, 'repo'), { recursive: true, force: true });
    const file = join(dir, 'learned.ts');
    const r = spawnSync(tsjail[0]!, [...tsjail.slice(1), 'learn', '-o', file, '--', ...cmd], { cwd: dir, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`bench: tsjail learn ${label} failed`);
    const table = readLearned(readFileSync(file, 'utf8'), file).abis.x86_64 ?? {};
    const exact = profileOf(x86_64, table, true).length;
    const general = profileOf(x86_64, table, false).length;
    lines.push(`| \`${label}\` | ${exact} | ${general} | +${general - exact} | ${allowedByBuiltin} |`);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log('bench: generalize done');
  return [...lines, ''];
}

/** A supervised connect: tsjail copies the address, decides, and connects on the jail's socket. */
function netSection(): string[] {
  const loop = join(work, 'connect-loop');
  chmodSync(work, 0o755); // the jail runs as an id range that must reach the program
  execFileSync('cc', ['-O2', '-o', loop, join(REPO_ROOT, 'bench/connect-loop.c')]);
  const port = '47999';
  const server = spawn(PYTHON, ['-c', `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.2', ${port})); s.listen(4096); print('up', flush=True)
while True: s.accept()[0].close()`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    execFileSync('bash', ['-c', `until (exec 3<>/dev/tcp/127.0.0.2/${port}) 2>/dev/null; do sleep 0.05; done`], { timeout: 10000 });
    const tsjail = [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run'];
    const perConnect = (prefix: string[]): number => median(Array.from({ length: 5 }, () => {
      const [cmd, ...args] = [...prefix, loop, '127.0.0.2', port, '1000'];
      return Number(execFileSync(cmd!, args, { encoding: 'utf8' }).trim());
    })) / 1000;
    const plain = perConnect([]);
    const unruled = perConnect([...tsjail, '--host-fs', '--']);
    const jail = perConnect([...tsjail, '--']);
    const ruled = perConnect([...tsjail, '--allow-net', `127.0.0.2:${port}`, '--']);
    console.log('bench: network rules done');
    return [
      '### Network rules: a supervised connect', '',
      'socket + connect + close to a local listener on 127.0.0.2, 1000 times in a C loop (timed inside it), median of 5 runs.', '',
      '| where | µs per connect | added by the rules |', '|---|---:|---:|',
      `| plain (no jail) | ${plain.toFixed(1)} | |`,
      `| \`tsjail run --host-fs\` (no file or network rules: connect stays in the kernel) | ${unruled.toFixed(1)} | |`,
      `| \`tsjail run\` (file rules: connects stop at tsjail for the unix socket rules, an inet one is performed) | ${jail.toFixed(1)} | ${(jail - unruled).toFixed(1)} µs |`,
      `| \`tsjail run --allow-net 127.0.0.2:${port}\` (copied, decided, connected by tsjail's helper) | ${ruled.toFixed(1)} | ${(ruled - unruled).toFixed(1)} µs |`, '',
    ];
  } finally {
    server.kill();
  }
}

/** What file rules cost: start-up with none, the default ones, and 20 more plus 10 network rules; a parallel build. */
function fsSection(): string[] {
  const tsjail = [process.execPath, join(REPO_ROOT, 'bin/tsjail.js'), 'run'];
  const extra = [
    ...Array.from({ length: 10 }, (_, i) => ['--ro', `/usr/share/doc/bench-${i}`]).flat(),
    ...Array.from({ length: 10 }, (_, i) => ['--hide', `~/.bench-secret-${i}`]).flat(),
    ...Array.from({ length: 10 }, (_, i) => ['--allow-net', `127.0.0.${i + 2}:8${i}00`]).flat(),
  ];
  const startRows: [string, string[]][] = [
    ['`tsjail run --host-fs -- /bin/true` (no file rules)', [...tsjail, '--host-fs', '--', '/bin/true']],
    ['`tsjail run -- /bin/true` (the default file rules: mounts, Landlock, write stops)', [...tsjail, '--', '/bin/true']],
    ['the default + 20 file rules + 10 network rules', [...tsjail, ...extra, '--', '/bin/true']],
  ];
  const lines = ['### File rules', '', '| command | wall time, median of 25 |', '|---|---:|'];
  for (const [label, cmd] of startRows) lines.push(`| ${label} | ${wallTimeMs(cmd, 25)!.toFixed(1)} ms |`);
  // A small C project built with make -j2: writes stop at tsjail (to explain refusals), reads do not.
  // One copy per jail: a root-started --host-fs jail leaves its files owned by its id range.
  const sources = Array.from({ length: 24 }, (_, i) => `f${i}.c`);
  const projects: string[] = [];
  const build = (prefix: (dir: string) => string[]): number => {
    const project = mkdtempSync(join('/var/tmp', 'tsjail-bench-make-'));
    projects.push(project);
    chmodSync(project, 0o777);
    for (const [i, f] of sources.entries()) writeFileSync(join(project, f), `#include <stdio.h>\nint f${i}(int x) { return x * ${i + 1}; }\n`);
    writeFileSync(join(project, 'main.c'), 'int main(void) { return 0; }\n');
    writeFileSync(join(project, 'Makefile'), `OBJ = main.o ${sources.map((f) => f.replace('.c', '.o')).join(' ')}\nprog: $(OBJ)\n\tcc -o $@ $(OBJ)\n%.o: %.c\n\tcc -O2 -c $< -o $@\n`);
    const ms = wallTimeMs([...prefix(project), 'sh', '-c', `cd ${project} && make -s -B -j2`], 5);
    if (ms === undefined) throw new Error(`bench: make in ${prefix(project).join(' ')} failed`);
    return ms;
  };
  const plain = build(() => []);
  const hostFs = build((dir) => [...tsjail, '--host-fs', '-d', dir, '--']);
  const ruled = build((dir) => [...tsjail, '--rw', dir, '--']);
  for (const p of projects) rmSync(p, { recursive: true, force: true });
  lines.push('', `\`make -s -B -j2\` of 25 small C files, median of 5:`, '', '| where | wall time | vs --host-fs |', '|---|---:|---:|',
    `| plain (no jail) | ${plain.toFixed(0)} ms | |`,
    `| \`tsjail run --host-fs\` | ${hostFs.toFixed(0)} ms | |`,
    `| \`tsjail run --rw DIR\` (file rules, Landlock, write stops) | ${ruled.toFixed(0)} ms | ${(ruled / hostFs).toFixed(2)}x |`, '');
  console.log('bench: file rules done');
  return lines;
}

const pss = (pid: number): number | undefined => {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
  } catch {
    return undefined;
  }
};

/** The library from a running Node process: spawn() of /bin/true beside bwrap, and 100 jails at once. */
async function librarySection(): Promise<string[]> {
  const { spawn } = require('../src/jail/spawn') as typeof import('../src/jail/spawn');
  const once = (): Promise<number> => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code: number) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`/bin/true: status ${code}`))));
  });
  for (let i = 0; i < 3; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < 25; i++) times.push(await once());
  const ours = median(times);
  const bwrap = wallTimeMs(['bwrap', '--unshare-all', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true'], 25);
  // 100 at once, each waiting on its stdin: all alive together, then let go.
  const rssBefore = process.memoryUsage().rss;
  const jails = Array.from({ length: 100 }, () => spawn('sh', ['-c', 'read line'], { stdio: ['pipe', 'ignore', 'ignore'] }));
  const ended = jails.map((j) => new Promise<number | null>((resolve) => { j.on('error', () => resolve(null)); j.on('close', (code: number | null) => resolve(code)); }));
  await Promise.all(jails.map((j) => new Promise<void>((resolve) => { if (j.pid) resolve(); else { j.on('spawn', () => resolve()); j.on('error', () => resolve()); } })));
  const rssPeak = process.memoryUsage().rss;
  // The jail's own process is its PID 1 (child.pid); the command (sh) is not counted.
  const perJail = jails.map((j) => (j.pid ? pss(j.pid) : undefined)).filter((x): x is number => x !== undefined);
  for (const j of jails) j.stdin!.end('go\n');
  const codes = await Promise.all(ended);
  const ok = codes.filter((c) => c === 0).length;
  const lines = [
    '### The library: jails from a running Node process', '',
    '| what | figure |', '|---|---:|',
    `| \`spawn('/bin/true')\` (default jail, from spawn() to 'close'), median of 25 | ${ours.toFixed(1)} ms |`,
    `| \`bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true\`, median of 25, from the same process | ${bwrap === undefined ? 'not installed' : `${bwrap.toFixed(1)} ms`} |`,
    ...(bwrap !== undefined ? [`| spawn() / bwrap | ${(ours / bwrap).toFixed(2)}x |`] : []),
    `| 100 jails at once (\`sh -c 'read line'\`, all alive, then let go): succeeded | ${ok}/100 |`,
    `| memory per jail: PSS of its PID 1 (the command not counted), median | ${perJail.length ? `${median(perJail).toFixed(2)} MB (${perJail.length} read)` : 'not readable'} |`,
    `| host process RSS growth with the 100 running | ${((rssPeak - rssBefore) / 2 ** 20).toFixed(1)} MB |`, '',
  ];
  console.log('bench: library done');
  return lines;
}

async function main(): Promise<void> {
  for (const [what, ok] of [['cc', spawnSync('cc', ['--version']).status === 0], ['python3-seccomp', spawnSync(PYTHON, ['-c', 'import seccomp']).status === 0]] as const) {
    if (!ok) { console.error(`bench: ${what} is missing (apt-get install libseccomp-dev python3-seccomp gcc)`); process.exit(1); }
  }
  execFileSync('cc', ['-O2', '-o', LOOP, join(REPO_ROOT, 'bench/syscall-loop.c')]);
  const calls: { label: string; call: [number, ...number[]] }[] = [
    { label: 'getppid (allowed, no args)', call: [syscallNumber(x86_64, 'getppid')!] },
    { label: 'personality(0xffffffff) (argument check)', call: [syscallNumber(x86_64, 'personality')!, 0xffffffff] },
    { label: 'acct(NULL) (denied)', call: [syscallNumber(x86_64, 'acct')!, 0] },
  ];
  const out: string[] = [];
  const baseline = calls.map((c) => nsPerCall('none', c.call));
  for (const c of CASES) {
    const ours = timeTsjail(c.profile, 200);
    const { binary } = libseccompHarness(c.profile);
    const rows: Row[] = [
      { tool: 'tsjail', ms: ours.ms, stats: programStats(ours.program, x86_64), file: writeFilter(ours.program, `tsjail-${Math.random().toString(36).slice(2)}.bpf`) },
      ...([1, 2] as const).map((opt) => {
        const l = timeLibseccomp(binary, opt, 200);
        return { tool: opt === 1 ? 'libseccomp' : 'libseccomp OPTIMIZE=2', ms: l.ms, stats: programStats(l.program, x86_64), file: l.file };
      }),
    ];
    out.push(`### ${c.name}`, '',
      `| compiler | instructions | worst path | mean executed (x86_64) | cacheable allows (x86_64) | compile, warm median | ${calls.map((x) => `ns/call: ${x.label}`).join(' | ')} |`,
      `|---|---:|---:|---:|---:|---:|${calls.map(() => '---:').join('|')}|`);
    for (const r of rows) {
      const ns = calls.map((x) => nsPerCall(r.file, x.call).toFixed(1));
      out.push(`| ${r.tool} | ${r.stats.instructions} | ${r.stats.worstPath} | ${r.stats.meanExecuted.toFixed(1)} | ${r.stats.cacheable}/${r.stats.syscalls} | ${r.ms.toFixed(3)} ms | ${ns.join(' | ')} |`);
    }
    out.push('');
    console.log(`bench: ${c.name} done`);
  }
  out.push(...weightsSection());
  out.push(...lateSection());
  out.push(...generalizeSection());
  out.push(...startupSection());
  out.push(...await librarySection());
  out.push(...netSection());
  out.push(...fsSection());
  out.push(...verifySection());
  const libseccompVersion = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libseccomp2'], { encoding: 'utf8' }).stdout || 'unknown';
  const doc = [
    '# Benchmark results', '',
    `Written by \`npm run bench\` (bench/run.ts). Kernel ${release()}, Node ${process.version}, libseccomp ${libseccompVersion}, ${new Date().toISOString().slice(0, 10)}.`, '',
    'Program figures come from tsjail\'s kernel-exact emulator run on each program\'s bytes: *worst path* is the longest',
    'path through the program, *mean executed* the mean over every x86_64 syscall number with zero arguments,',
    '*cacheable* the syscalls the kernel\'s action cache (Linux 5.11+) marks always-allowed. Compile times: tsjail',
    'in-process (OCI import + compile, after warm-up), libseccomp in C (rules added, BPF generated and exported),',
    'medians of 200. ns/call: a C loop of 300,000 calls under the loaded filter, median of 5 runs; with no filter:',
    calls.map((c, i) => `${c.label} ${baseline[i]!.toFixed(1)} ns`).join(', ') + '.', '',
    ...out,
  ];
  writeFileSync(join(REPO_ROOT, 'bench/RESULTS.md'), doc.join('\n'));
  console.log(doc.join('\n'));
}

/**
 * Syscall weights (issue #14): instructions per call on a recorded mix of real programs, every
 * call counted (no action cache), tsjail balanced and weighted beside libseccomp, without and
 * with seccomp_syscall_priority from the same mix (the most frequent call 255, then by rank).
 */
function weightsSection(): string[] {
  const mixFile = join(REPO_ROOT, 'fixtures/weights/mix-x86_64.weights');
  const weights = parseWeights(readFileSync(mixFile, 'utf8'), mixFile);
  const calls = Object.values(weights).reduce((a, b) => a + b, 0);
  const priorities = Object.entries(weights).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 255).map(([name], i) => [name, 255 - i] as const);
  const lines = [
    '### Syscall weights: instructions per call on a recorded mix', '',
    `The mix: fixtures/weights/mix-x86_64.weights, ${calls} calls of ${Object.keys(weights).length} syscalls recorded by \`tsjail learn --weights-out\` from python3, node,`,
    'git, gcc, tar and sh runs. *Per call*: the mean of instructions executed over those calls (arguments zero) by the same',
    'emulator, every call counted: what a kernel without the action cache runs, or any kernel for calls it cannot cache.',
    'tsjail weighted: `tsjail compile --weights FILE`; libseccomp with priorities: `seccomp_syscall_priority` from the same mix.', '',
    '| profile | compiler | instructions | worst path | per call, recorded mix |', '|---|---|---:|---:|---:|',
  ];
  for (const c of CASES.filter((x) => !x.name.startsWith('small'))) {
    const policy = importOci(c.profile, { hostArch: 'x86_64', kernel: '6.1' }).policy;
    const plain = compileProgram(policy).instructions;
    const weighted = compileProgram(policy, { weights }).instructions;
    const rows: [string, readonly Instruction[]][] = [['tsjail', plain], ['tsjail weighted', weighted]];
    for (const [label, prios] of [['', []], [' with priorities', priorities]] as const) {
      const { binary } = libseccompHarness(c.profile, prios);
      rows.push([`libseccomp${label}`, timeLibseccomp(binary, 1, 1).program], [`libseccomp OPTIMIZE=2${label}`, timeLibseccomp(binary, 2, 1).program]);
    }
    for (const [label, program] of rows) {
      lines.push(`| ${c.name} | ${label} | ${program.length} | ${worstPath(program)} | ${meanPerCall(program, x86_64, weights).toFixed(2)} |`);
    }
  }
  const builtin = defaultPolicy();
  for (const [label, program] of [['tsjail', compileProgram(builtin).instructions], ['tsjail weighted', compileProgram(builtin, { weights }).instructions]] as const) {
    lines.push(`| built-in policy (\`tsjail run\`) | ${label} | ${program.length} | ${worstPath(program)} | ${meanPerCall(program, x86_64, weights).toFixed(2)} |`);
  }
  console.log('bench: weights done');
  return [...lines, ''];
}

/** Compile times alone, tsjail beside libseccomp (the tables' compile column). */
function compileSection(): string[] {
  const lines = ['| profile | tsjail | libseccomp | libseccomp OPTIMIZE=2 | tsjail / libseccomp |', '|---|---:|---:|---:|---:|'];
  for (const c of CASES) {
    const ours = timeTsjail(c.profile, 200).ms;
    const { binary } = libseccompHarness(c.profile);
    const [one, two] = ([1, 2] as const).map((opt) => timeLibseccomp(binary, opt, 200).ms);
    lines.push(`| ${c.name} | ${ours.toFixed(3)} ms | ${one!.toFixed(3)} ms | ${two!.toFixed(3)} ms | ${(ours / one!).toFixed(1)}x |`);
  }
  return lines;
}

/** `tsjail verify`: the proof's time on tsjail's program and on libseccomp's, and the regions it finds in each. */
function verifySection(): string[] {
  const { verifyFilter } = require('../src/analysis/verify') as typeof import('../src/analysis/verify');
  const lines = ['### `tsjail verify`: proving a program implements its profile', '',
    '| profile | program | instructions | reference instructions | regions that differ | verify, median of 20 |', '|---|---|---:|---:|---:|---:|'];
  for (const c of CASES) {
    const policy = importOci(c.profile, { hostArch: 'x86_64', kernel: '6.1' }).policy;
    const programs: [string, readonly Instruction[]][] = [
      ['tsjail', compileProgram(policy).instructions],
      ['libseccomp', timeLibseccomp(libseccompHarness(c.profile).binary, 1, 1).program],
    ];
    for (const [tool, program] of programs) {
      const times: number[] = [];
      let report = verifyFilter(policy, program);
      for (let i = 0; i < 20; i++) {
        const t0 = process.hrtime.bigint();
        report = verifyFilter(policy, program);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      lines.push(`| ${c.name} | ${tool} | ${program.length} | ${report.referenceLength} | ${report.regions} | ${median(times).toFixed(1)} ms |`);
    }
  }
  return [...lines, '', 'A region is a set of calls on which the program and the profile\'s meaning differ; test/verify.test.ts checks that for Docker\'s profile libseccomp\'s are the syscalls 2.5.4 does not know.', ''];
}

// `node dist/bench/run.js generalize|startup|compile|net|library|weights|verify`: that section alone, printed (RESULTS.md untouched).
const SECTIONS: Record<string, () => string[] | Promise<string[]>> = {
  generalize: generalizeSection, startup: startupSection, compile: compileSection, net: netSection, library: librarySection,
  weights: weightsSection, verify: verifySection,
};
const only = process.argv[2] !== undefined ? SECTIONS[process.argv[2]] : undefined;
if (only) void Promise.resolve(only()).then((lines) => console.log(lines.join('\n')));
else void main();
