// --late: the policy decides alone from main() on (the preload library reports it), for real
// programs; what start-up needs is left out of learned policies; code before main() cannot take
// the notification listener; static programs get the policy from exec.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-late-'));
chmodSync(work, 0o755);
const tsjail = (args: string[], asUser?: number): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, ...args];
  const [cmd, ...rest] = asUser === undefined ? argv : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', ...argv];
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', timeout: 60000 });
};
/** Compiles a C program from its source lines into the work directory; returns its path. */
const buildC = (name: string, lines: readonly string[], ccFlags: readonly string[] = []): string => {
  const src = join(work, `${name}.c`), program = join(work, name);
  writeFileSync(src, `${lines.join('\n')}\n`);
  execFileSync('cc', ['-O2', ...ccFlags, '-o', program, src]);
  return program;
};
const syscallsOf = (policyText: string): string[] => [...new Set(policyText.split('/*')[0]!.match(/'[a-z0-9_]+'/g) ?? [])].filter((s) => s !== "'x86_64'");

// Prints how many seccomp filters it runs under, and the fds and variables tsjail could leak.
const INSPECT = [
  '/usr/bin/python3', '-c',
  'import os,re; print(re.search(r"Seccomp_filters:\\s*(\\d+)", open("/proc/self/status").read()).group(1));'
  + 'fd="/proc/self/fd/"; print(sorted(os.readlink(fd+f) for f in os.listdir(fd) if os.path.lexists(fd+f)));'
  + 'print(sorted(k for k in os.environ if k.startswith("TSJAIL") or k == "LD_PRELOAD"))',
];

test('learn --late leaves out start-up; the late policy runs ls to the same output only with --late', () => {
  const full = join(work, 'ls-full.ts'), late = join(work, 'ls-late.ts'), lateJson = join(work, 'ls-late.json');
  assert.equal(tsjail(['learn', '-o', full, '--', 'ls', '/usr']).status, 0);
  const learned = tsjail(['learn', '--late', '-o', late, '--', 'ls', '/usr']);
  assert.equal(learned.status, 0, learned.stderr);
  assert.match(learned.stderr, /learned \d+ distinct syscalls from \d+ calls after start-up \(--late\)/);
  const fullSet = syscallsOf(readFileSync(full, 'utf8')), lateSet = syscallsOf(readFileSync(late, 'utf8'));
  // The loader's own calls are gone; what main() does is all still there.
  for (const s of ["'execve'", "'mprotect'", "'arch_prctl'", "'set_tid_address'"]) {
    assert.ok(fullSet.includes(s), `${s} in the full policy`);
    assert.ok(!lateSet.includes(s), `${s} not in the late policy`);
  }
  assert.ok(lateSet.every((s) => fullSet.includes(s)), `${lateSet} within ${fullSet}`);
  assert.ok(lateSet.length < fullSet.length - 5, `${lateSet.length} vs ${fullSet.length}`);
  // The learned .ts sets jail.late itself.
  assert.match(readFileSync(late, 'utf8'), /jail: \{ late: true \}/);
  const plain = spawnSync('ls', ['/usr'], { encoding: 'utf8' });
  const run = tsjail(['run', '--policy', late, '--', 'ls', '/usr']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, plain.stdout);
  assert.equal(run.stderr, '');
  // The same allowlist as an OCI profile (no jail section): before exec it cannot even exec.
  assert.equal(tsjail(['learn', '--late', '--format', 'json', '-o', lateJson, '--', 'ls', '/usr']).status, 0);
  const early = tsjail(['run', '--policy', lateJson, '--', 'ls', '/usr']);
  assert.equal(early.status, 126);
  assert.match(early.stderr, /execve\(.*\) -> EPERM/);
  const withLate = tsjail(['run', '--late', '--policy', lateJson, '--', 'ls', '/usr']);
  assert.equal(withLate.status, 0, withLate.stderr);
  assert.equal(withLate.stdout, plain.stdout);
});

test('--late: one filter, no listener, memfd or tsjail variable left in the command; as root and rootless', () => {
  for (const user of [undefined, 65534]) {
    const r = tsjail(['run', '--late', '--', ...INSPECT], user);
    assert.equal(r.status, 0, r.stderr);
    const [filters, fds, vars] = r.stdout.trim().split('\n');
    assert.equal(filters, '1');
    assert.doesNotMatch(fds!, /seccomp|memfd|tsjail|pipe/, fds);
    assert.equal(vars, '[]');
  }
});

test('--late: code before main() (a constructor) can neither take a listener nor make a call the start-up policy refuses', () => {
  const program = buildC('constructor', [
    '#define _GNU_SOURCE',
    '#include <errno.h>',
    '#include <linux/filter.h>',
    '#include <linux/seccomp.h>',
    '#include <stdio.h>',
    '#include <string.h>',
    '#include <sys/syscall.h>',
    '#include <unistd.h>',
    '__attribute__((constructor)) static void early(void) {',
    '  struct sock_filter f[] = { { 0x06, 0, 0, SECCOMP_RET_ALLOW } };',
    '  struct sock_fprog p = { 1, f };',
    '  long l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);',
    '  printf("listener: %s\\n", l < 0 ? strerror(errno) : "TAKEN");',
    '  printf("getppid before main: %s\\n", syscall(SYS_getppid) < 0 ? strerror(errno) : "RAN");',
    '}',
    'int main(void) { printf("main\\n"); return 0; }',
  ]);
  const policy = join(work, 'constructor.ts');
  writeFileSync(policy, `import { definePolicy, allow, errno } from 'tsjail';
export default definePolicy({ default: errno('EPERM'), rules: [allow('write', 'exit_group', 'seccomp', 'newfstatat', 'fstat')] });
`);
  const r = tsjail(['run', '--late', '--policy', policy, '--', program]);
  assert.equal(r.stdout, 'listener: Device or resource busy\ngetppid before main: Operation not permitted\nmain\n', r.stderr);
  assert.match(r.stderr, /getppid\(\) -> EPERM/);
});

test('--late: a denial after main() is explained; a program started after main() is decided by the policy', () => {
  const policy = join(work, 'python-late.ts');
  const script = 'import os; print(os.getpid() > 0)';
  assert.equal(tsjail(['learn', '--late', '-o', policy, '--', '/usr/bin/python3', '-c', script]).status, 0);
  const ok = tsjail(['run', '--policy', policy, '--', '/usr/bin/python3', '-c', script]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'True\n');
  // Something main() never did: explained, with the rule line to add.
  const denied = tsjail(['run', '--policy', policy, '--', '/usr/bin/python3', '-c', 'import os; os.mkdir("/tmp/x-late")']);
  assert.notEqual(denied.status, 0);
  assert.match(denied.stderr, /mkdir\(pathname=.*\) -> EPERM\n {8}decided by: the default action.*\n {8}to allow exactly this: allow\(.mkdir.\)/);
  // A program exec'd after main() is decided by the policy from its first call: execve itself is refused.
  const child = tsjail(['run', '--policy', policy, '--', '/usr/bin/python3', '-c', 'import os; os.execv("/bin/true", ["true"])']);
  assert.notEqual(child.status, 0);
  assert.match(child.stderr, /execve\(.*\) -> EPERM/);
});

test('--late: a static program gets the policy from exec; one that never reaches main() is reported', () => {
  const staticProgram = buildC('filters-static', [
    '#include <stdio.h>',
    '#include <string.h>',
    'int main(void) { char line[256]; FILE *f = fopen("/proc/self/status", "r");',
    '  while (fgets(line, sizeof line, f)) if (!strncmp(line, "Seccomp_filters:", 16)) fputs(line, stdout); return 0; }',
  ], ['-static']);
  const r = tsjail(['run', '--late', '--', staticProgram]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Seccomp_filters:\s+1$/m);
  assert.match(r.stderr, /statically linked .*the policy applies from exec/);
  // Dynamic, but with its own _start: glibc's __libc_start_main never runs, nor the library's hook.
  const raw = buildC('raw', ['#include <unistd.h>', 'void _start(void) { write(1, "raw\\n", 4); _exit(0); }'], ['-nostartfiles']);
  const never = tsjail(['run', '--late', '--', raw]);
  assert.equal(never.status, 0, never.stderr);
  assert.equal(never.stdout, 'raw\n');
  assert.match(never.stderr, /never reported main\(\) .* the start-up policy, the policy plus the loader's syscalls, decided throughout/);
});

test('--late needs /proc in the jail', () => {
  const r = tsjail(['run', '--late', '--no-proc', '--', 'true']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /--late needs \/proc in the jail/);
});
