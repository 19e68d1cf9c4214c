// The jail's environment (allowlist by default, --keep-env, --inherit-env, --clear-env, --env, -u)
// and cloudflare sandbox's variables (SECCOMP_SYSCALL_ALLOW / _DENY / SECCOMP_DEFAULT_ACTION).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jailEnvironment, DEFAULT_PATH } from '../src/jail/environment';
import { JailError } from '../src/jail/errors';
import { sandboxVariables } from '../src/jail/overrides';
import { PolicyError } from '../src/policy/errors';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-env-'));
chmodSync(work, 0o755);
const onX86 = process.arch === 'x64' ? false : 'the probe is x86_64 assembly';

/** Secrets a developer's shell holds, and the allowlisted variables beside them. */
const SECRETS = {
  GITHUB_TOKEN: 'ghp_secret', AWS_SECRET_ACCESS_KEY: 'aws-secret', AWS_ACCESS_KEY_ID: 'AKIA-secret', NPM_TOKEN: 'npm-secret',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/0/bus', XDG_RUNTIME_DIR: '/run/user/0',
  DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-0', http_proxy: 'http://user:pw@proxy:3128', HTTPS_PROXY: 'http://user:pw@proxy:3128',
  SHELL: '/bin/bash', TMPDIR: '/tmp/private', PWD: '/somewhere', LD_PRELOAD: '/tmp/evil.so',
} as const;
const ALLOWED = { HOME: '/home/dev', USER: 'dev', LOGNAME: 'dev', LANG: 'C.UTF-8', LANGUAGE: 'en', LC_ALL: 'C.UTF-8', LC_TIME: 'C', TERM: 'xterm', COLORTERM: 'truecolor', TZ: 'UTC' } as const;
const HOST = { ...SECRETS, ...ALLOWED, PATH: '/usr/bin:/bin', SECCOMP_SYSCALL_DENY: 'ptrace' };

const asMap = (env: readonly string[]): Record<string, string> => Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

test('by default only the allowlist passes: no token, key, agent socket, bus, display, proxy, loader variable', () => {
  assert.deepEqual(asMap(jailEnvironment({}, HOST)), { ...ALLOWED, PATH: '/usr/bin:/bin' });
  assert.deepEqual(asMap(jailEnvironment({}, {})), { PATH: DEFAULT_PATH });
});

test('--keep-env passes names and PREFIX* globs; bad patterns are refused', () => {
  assert.equal(asMap(jailEnvironment({ keepEnv: ['GITHUB_TOKEN'] }, HOST)).GITHUB_TOKEN, 'ghp_secret');
  const aws = asMap(jailEnvironment({ keepEnv: ['AWS_*'] }, HOST));
  assert.deepEqual([aws.AWS_SECRET_ACCESS_KEY, aws.AWS_ACCESS_KEY_ID, aws.NPM_TOKEN], ['aws-secret', 'AKIA-secret', undefined]);
  // cloudflare's variables never pass, even by name.
  assert.equal(asMap(jailEnvironment({ keepEnv: ['SECCOMP_SYSCALL_DENY', 'SECCOMP_*'] }, HOST)).SECCOMP_SYSCALL_DENY, undefined);
  assert.throws(() => jailEnvironment({ keepEnv: ['*'] }, HOST), (e: Error) => e instanceof JailError && /--inherit-env/.test(e.message));
  for (const bad of ['A*B', 'A=B', '', 'X\0Y']) assert.throws(() => jailEnvironment({ keepEnv: [bad] }, HOST), JailError, bad);
});

test('--inherit-env passes everything but cloudflare\'s variables; --clear-env nothing but PATH; both is an error', () => {
  const { SECCOMP_SYSCALL_DENY: _, ...rest } = HOST;
  assert.deepEqual(asMap(jailEnvironment({ inheritEnv: true }, HOST)), rest);
  assert.deepEqual(asMap(jailEnvironment({ clearEnv: true }, HOST)), { PATH: DEFAULT_PATH });
  assert.deepEqual(asMap(jailEnvironment({ clearEnv: true, keepEnv: ['LC_*'] }, HOST)), { LC_ALL: 'C.UTF-8', LC_TIME: 'C', PATH: DEFAULT_PATH });
  assert.throws(() => jailEnvironment({ inheritEnv: true, clearEnv: true }, HOST), /contradict/);
});

test('with -u, HOME, USER and LOGNAME describe the jail\'s user (passwd), not tsjail\'s', () => {
  const nobody = { uid: 65534, gid: 65534, groups: [], name: 'nobody', home: '/nonexistent' };
  const env = asMap(jailEnvironment({}, HOST, nobody));
  assert.deepEqual([env.HOME, env.USER, env.LOGNAME], ['/nonexistent', 'nobody', 'nobody']);
  // A uid with no passwd entry: no name to give, HOME is /.
  const bare = asMap(jailEnvironment({}, HOST, { uid: 4242, gid: 4242, groups: [] }));
  assert.deepEqual([bare.HOME, bare.USER, bare.LOGNAME], ['/', undefined, undefined]);
  // --clear-env still clears them; --env wins over everything.
  assert.deepEqual(asMap(jailEnvironment({ clearEnv: true }, HOST, nobody)), { PATH: DEFAULT_PATH });
  assert.equal(asMap(jailEnvironment({ env: { HOME: '/work' } }, HOST, nobody)).HOME, '/work');
});

test('a NUL byte or a bad name in --env / jail.env is refused, naming the variable', () => {
  assert.throws(() => jailEnvironment({ env: { A: 'x\0y' } }, HOST), (e: Error) => e instanceof JailError && /variable A has a NUL byte/.test(e.message));
  for (const k of ['', 'A=B', 'A\0B']) assert.throws(() => jailEnvironment({ env: { [k]: 'v' } }, HOST), /bad environment variable name/);
});

const tsjail = (args: string[], env: NodeJS.ProcessEnv, asNobody = false): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, 'run', ...args];
  const [cmd, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', env, timeout: 30000 });
};
/** HOST for a real run: tsjail's own PATH, no LD_PRELOAD for tsjail's node itself. */
const { LD_PRELOAD: _preload, ...RUN_HOST_ALL } = { ...HOST, PATH: process.env.PATH! };
const { SECCOMP_SYSCALL_DENY: _deny, ...RUN_HOST_NO_SANDBOX } = RUN_HOST_ALL;
const envOf = (r: SpawnSyncReturns<string>): Record<string, string> => asMap(r.stdout.split('\n').filter(Boolean));

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';
  test(`${who}: a secret does not reach the jail by default; the allowlist, --keep-env, --inherit-env and --env do`, () => {
    const host = RUN_HOST_ALL;
    const plain = tsjail(['--', 'env'], host, asNobody);
    assert.equal(plain.status, 0, plain.stderr);
    const inside = envOf(plain);
    for (const k of [...Object.keys(SECRETS), 'SECCOMP_SYSCALL_DENY']) assert.equal(inside[k], undefined, k);
    assert.match(plain.stderr, /WARNING: SECCOMP_SYSCALL_DENY is set/);
    for (const [k, v] of Object.entries(ALLOWED)) assert.equal(inside[k], v, k);
    assert.equal(envOf(tsjail(['--keep-env', 'GITHUB_TOKEN', '--', 'env'], host, asNobody)).GITHUB_TOKEN, 'ghp_secret');
    assert.equal(envOf(tsjail(['--keep-env', 'AWS_*', '--', 'env'], host, asNobody)).AWS_SECRET_ACCESS_KEY, 'aws-secret');
    assert.equal(envOf(tsjail(['--env', 'A=b=c', '--', 'env'], host, asNobody)).A, 'b=c');
    const all = tsjail(['--inherit-env', '--', 'env'], host, asNobody);
    assert.equal(envOf(all).NPM_TOKEN, 'npm-secret');
    assert.equal(envOf(all).SECCOMP_SYSCALL_DENY, undefined);
    assert.match(all.stderr, /note: --inherit-env: the jail gets tsjail's whole environment/);
    assert.deepEqual(Object.keys(envOf(tsjail(['--clear-env', '--', 'env'], host, asNobody))), ['PATH']);
  });
}

test('as root with -u nobody: HOME, USER, LOGNAME are nobody\'s', () => {
  const inside = envOf(tsjail(['-u', 'nobody', '--', 'env'], RUN_HOST_ALL));
  const home = execFileSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).trim().split(':')[5];
  assert.deepEqual([inside.HOME, inside.USER, inside.LOGNAME], [home, 'nobody', 'nobody']);
});

test('a policy file\'s jail section: inheritEnv, keepEnv, and a NUL in env is refused with exit 125', () => {
  const write = (name: string, jail: string): string => {
    const file = join(work, name);
    writeFileSync(file, `import { definePolicy, allow } from 'tsjail';\nexport default definePolicy({ default: allow(), rules: [], jail: ${jail} });\n`);
    return file;
  };
  const host = RUN_HOST_NO_SANDBOX;
  assert.equal(envOf(tsjail(['-p', write('inherit.ts', '{ inheritEnv: true }'), '--', 'env'], host)).NPM_TOKEN, 'npm-secret');
  assert.equal(envOf(tsjail(['-p', write('keep.ts', "{ keepEnv: ['NPM_TOKEN'] }"), '--', 'env'], host)).NPM_TOKEN, 'npm-secret');
  const nul = tsjail(['-p', write('nul.ts', "{ env: { INJECTED: 'a\\u0000LD_PRELOAD=/tmp/evil.so' } }"), '--', 'env'], host);
  assert.equal(nul.status, 125);
  assert.match(nul.stderr, /environment variable INJECTED has a NUL byte/);
  assert.equal(nul.stdout, '');
});

// cloudflare sandbox's variables.

test('sandboxVariables: ALLOW wins over DENY, names split on ":" only, empty entries skipped, unknown names refused', () => {
  assert.deepEqual(sandboxVariables({}), { log: false, messages: [] });
  const allow = sandboxVariables({ SECCOMP_SYSCALL_ALLOW: 'read::write:', SECCOMP_SYSCALL_DENY: 'ptrace' });
  assert.equal(allow.policy!.defaultAction.kind, 'kill_process');
  assert.deepEqual(allow.policy!.rules.map((r) => [r.syscalls, r.action.kind]), [[['read', 'write'], 'allow']]);
  assert.match(allow.messages.join('\n'), /WARNING: SECCOMP_SYSCALL_ALLOW is set[^]*SECCOMP_SYSCALL_DENY is ignored/);
  // An empty ALLOW is still a (kill-everything) allowlist, as in libsandbox.
  assert.deepEqual(sandboxVariables({ SECCOMP_SYSCALL_ALLOW: '' }).policy!.rules, []);
  const deny = sandboxVariables({ SECCOMP_SYSCALL_DENY: 'ptrace:bpf' });
  assert.equal(deny.policy!.defaultAction.kind, 'allow');
  assert.deepEqual(deny.policy!.rules.map((r) => [r.syscalls, r.action.kind]), [[['ptrace', 'bpf'], 'kill_process']]);
  assert.equal(deny.policy!.badArchAction.kind, 'kill_process');
  assert.equal(sandboxVariables({ SECCOMP_SYSCALL_DENY: 'ptrace', SECCOMP_DEFAULT_ACTION: 'log' }).log, true);
  // Exactly "log", as libsandbox compares; alone it changes nothing.
  assert.equal(sandboxVariables({ SECCOMP_SYSCALL_DENY: 'ptrace', SECCOMP_DEFAULT_ACTION: 'logging' }).log, false);
  const alone = sandboxVariables({ SECCOMP_DEFAULT_ACTION: 'log' });
  assert.deepEqual([alone.policy, alone.log], [undefined, false]);
  assert.match(alone.messages[0]!, /SECCOMP_DEFAULT_ACTION=log is ignored/);
  assert.throws(() => sandboxVariables({ SECCOMP_SYSCALL_ALLOW: 'read,write' }), (e: Error) => e instanceof PolicyError && /unknown syscall 'read,write' in SECCOMP_SYSCALL_ALLOW/.test(e.message));
});

// A static program with no libc: execve, write and exit_group only; with an argument, getpid first.
const PROBE = join(work, 'raw-probe');
if (!onX86) {
  writeFileSync(join(work, 'raw-probe.c'), `#include <sys/syscall.h>
static long sc(long n, long a, long b, long c) { long r; __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory"); return r; }
void _start(void) {
  char **argv; __asm__ ("lea 8(%%rsp), %0" : "=r"(argv));
  if (argv[1]) sc(SYS_getpid, 0, 0, 0);
  sc(SYS_write, 1, (long)"ok\\n", 3);
  sc(SYS_exit_group, 0, 0, 0);
  for (;;) ;
}
`);
  execFileSync('cc', ['-static', '-nostdlib', '-O1', '-fno-stack-protector', '-o', PROBE, join(work, 'raw-probe.c')]);
}
const STRICT = 'execve:write:exit_group';

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';
  test(`${who}: SECCOMP_SYSCALL_ALLOW is a strict allowlist: its calls run, any other kills (159), loudly`, { skip: onX86 }, () => {
    const ok = tsjail(['--', PROBE], { ...process.env, SECCOMP_SYSCALL_ALLOW: STRICT }, asNobody);
    assert.equal(ok.stdout, 'ok\n', ok.stderr);
    assert.equal(ok.status, 0);
    assert.match(ok.stderr, /WARNING: SECCOMP_SYSCALL_ALLOW is set: the built-in policy is REPLACED/);
    const killed = tsjail(['--', PROBE, 'getpid'], { ...process.env, SECCOMP_SYSCALL_ALLOW: STRICT }, asNobody);
    assert.equal(killed.status, 159);
    assert.equal(killed.stdout, '');
    assert.match(killed.stderr, /getpid\(\) -> killed \(SIGSYS\)/);
    // Not the built-in policy plus these: sh needs far more than three calls.
    assert.equal(tsjail(['--', 'sh', '-c', 'echo hi'], { ...process.env, SECCOMP_SYSCALL_ALLOW: STRICT }, asNobody).status, 159);
  });
}

test('SECCOMP_SYSCALL_DENY kills on its calls and allows the rest, even what the built-in policy refuses', { skip: onX86 }, () => {
  const env = { ...process.env, SECCOMP_SYSCALL_DENY: 'getpid' };
  const killed = tsjail(['--', PROBE, 'getpid'], env);
  assert.equal(killed.status, 159);
  assert.match(killed.stderr, /getpid\(\) -> killed \(SIGSYS\)\n {8}decided by: rule "SECCOMP_SYSCALL_DENY" \(the environment\)/);
  assert.match(killed.stderr, /WARNING: SECCOMP_SYSCALL_DENY is set: .*EVERY other syscall is ALLOWED/);
  // The built-in policy refuses unshare(CLONE_NEWUSER); a deny list without it lets it through.
  assert.equal(tsjail(['--', 'unshare', '--user', 'true'], env).status, 0);
  assert.notEqual(tsjail(['--', 'unshare', '--user', 'true'], process.env).status, 0);
});

test('both set: ALLOW wins and DENY is ignored with a note; log mode reports and runs; the variables never reach the jail', { skip: onX86 }, () => {
  const both = tsjail(['--', PROBE, 'getpid'], { ...process.env, SECCOMP_SYSCALL_ALLOW: `${STRICT}:getpid`, SECCOMP_SYSCALL_DENY: 'getpid' });
  assert.equal(both.stdout, 'ok\n', both.stderr);
  assert.match(both.stderr, /note: SECCOMP_SYSCALL_DENY is ignored: SECCOMP_SYSCALL_ALLOW is set and wins/);
  const logged = tsjail(['--', PROBE, 'getpid'], { ...process.env, SECCOMP_SYSCALL_ALLOW: STRICT, SECCOMP_DEFAULT_ACTION: 'log' });
  assert.equal(logged.status, 0);
  assert.equal(logged.stdout, 'ok\n');
  assert.match(logged.stderr, /WARNING: SECCOMP_DEFAULT_ACTION=log/);
  assert.match(logged.stderr, /getpid\(\) -> would be killed \(SIGSYS\) \(allowed: log mode\)/);
  const cf = { SECCOMP_SYSCALL_DENY: 'getpid', SECCOMP_DEFAULT_ACTION: 'log' };
  for (const mode of [[], ['--inherit-env'], ['--keep-env', 'SECCOMP_*']]) {
    const inside = envOf(tsjail([...mode, '--', 'env'], { ...process.env, ...cf }));
    assert.deepEqual(Object.keys(inside).filter((k) => k.startsWith('SECCOMP_')), [], mode.join(' '));
  }
});

test('SECCOMP_DEFAULT_ACTION=log alone changes nothing; the variables and an explicit policy or -I are refused together', () => {
  const alone = tsjail(['--', 'unshare', '--user', 'true'], { ...process.env, SECCOMP_DEFAULT_ACTION: 'log' });
  assert.notEqual(alone.status, 0);
  assert.match(alone.stderr, /SECCOMP_DEFAULT_ACTION=log is ignored/);
  const policy = join(work, 'any.ts');
  writeFileSync(policy, "import { definePolicy, allow } from 'tsjail';\nexport default definePolicy({ default: allow(), rules: [] });\n");
  for (const args of [['-p', policy], ['-I']]) {
    const r = tsjail([...args, '--', 'true'], { ...process.env, SECCOMP_SYSCALL_DENY: 'ptrace' });
    assert.equal(r.status, 125, args.join(' '));
    assert.match(r.stderr, /SECCOMP_SYSCALL_DENY gives the whole policy/);
  }
  const typo = tsjail(['--', 'true'], { ...process.env, SECCOMP_SYSCALL_ALLOW: 'execve:wrte' });
  assert.equal(typo.status, 125);
  assert.match(typo.stderr, /unknown syscall 'wrte' in SECCOMP_SYSCALL_ALLOW/);
});
