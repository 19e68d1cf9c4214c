// Red-team attacks on the file rules (issue #11) that SUCCEEDED when written; each test fails
// while its hole is open. Root and rootless (setpriv to uid 65534 with a HOME of its own).
// - A $HOME reached through a symlink made the home directory, as working directory, writable.
// - With network rules, socket(AF_INET, SOCK_SEQPACKET, 0) was let through: that is SCTP where
//   its module is loaded, and SCTP connects from setsockopt(SCTP_SOCKOPT_CONNECTX), which no rule sees.
// - A policy's trace action (the call does not run without a tracer: ENOSYS) on a call that
//   tsjail's own rules also stop (network rules, write explanations) let the call run.
// - The session's runtime directory /run/user/UID (its D-Bus: systemd-run --user runs a program
//   outside the jail) and the Docker socket were reachable: a read-only file rule does not stop
//   connect() on a socket, and a rootless jail keeps the user's uid and groups.
// - A hostile workspace's `.git -> ~/.ssh` turned `--ro .git` (the README's example) into a rule
//   for ~/.ssh itself, replacing its hide: the secret became readable.
// - --report and --pidfile followed a symlink planted in the working directory (by an earlier
//   jail): tsjail, as root, truncated and wrote whatever file it pointed at.
//   So did `tsjail learn -o FILE` with a link the jail itself put at FILE while it ran.
// - Browser profiles (session cookies: logged in as you), ~/.pgpass and shell history were readable.
// - Without a mount namespace Landlock alone holds the rules, and Landlock does not rule a file's
//   mode or extended attributes: a jail could chmod (set-uid, world-writable) or set xattrs on any
//   host file its uid owns (as root: every root-owned file), while tsjail reported EACCES.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { resolveFs } from '../src/jail/fsRules';
import { compileFilter } from '../src/bpf/compile';
import { CLONE_NEWUSER } from '../src/kernel/constants';
import { definePolicy, errno, hasAll } from '../src/policy/dsl';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: the jail's /tmp is its own.
const base = mkdtempSync('/var/tmp/tsjail-red2-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

// chmod/fchmod/fchmodat2(AT_EMPTY_PATH)/setxattr/fsetxattr on a path, each printing op=ok or
// op=<errno>; `race A B MODE`: a thread flips the path between A and B while chmod(MODE) runs.
const PROBE_C = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
static void say(const char *op, int r) { printf("%s=%s\\n", op, r ? strerrorname_np(errno) : "ok"); fflush(stdout); }
static char buf[4096];
static const char *paths[2];
static volatile int stop;
static void *flip(void *a) {
  (void)a;
  for (unsigned i = 0; !stop; i++) strcpy(buf, paths[i & 1]);
  return NULL;
}
int main(int c, char **v) {
  if (c < 3) return 2;
  const char *op = v[1], *p = v[2];
  mode_t mode = c > 3 ? (mode_t)strtol(v[3], NULL, 8) : 0;
  if (!strcmp(op, "chmod")) say(op, chmod(p, mode));
  else if (!strcmp(op, "fchmod")) { int fd = open(p, O_RDONLY); say(op, fd < 0 ? -1 : fchmod(fd, mode)); }
  else if (!strcmp(op, "fchmodat2")) { int fd = open(p, O_PATH); say(op, fd < 0 ? -1 : (int)syscall(452, fd, "", mode, AT_EMPTY_PATH)); }
  else if (!strcmp(op, "setxattr")) say(op, setxattr(p, "user.tsjail", "x", 1, 0));
  else if (!strcmp(op, "getxattr")) { char b[8]; say(op, getxattr(p, "user.tsjail", b, sizeof b) < 0 ? -1 : 0); }
  else if (!strcmp(op, "fsetxattr")) { int fd = open(p, O_RDONLY); say(op, fd < 0 ? -1 : fsetxattr(fd, "user.tsjail", "x", 1, 0)); }
  else if (!strcmp(op, "socket")) say(op, socket(atoi(p), atoi(v[3]), atoi(v[4])) < 0 ? -1 : 0);
  else if (!strcmp(op, "connect")) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(p)), .sin_addr.s_addr = htonl(0x7f000001) };
    int s = socket(AF_INET, SOCK_STREAM, 0);
    say(op, connect(s, (struct sockaddr *)&a, sizeof a));
  } else if (!strcmp(op, "uconnect")) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, p, sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    say(op, connect(s, (struct sockaddr *)&a, sizeof a));
  } else if (!strcmp(op, "race")) {
    paths[0] = p; paths[1] = v[3]; mode = (mode_t)strtol(v[4], NULL, 8);
    strcpy(buf, p);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    for (int i = 0; i < 3000; i++) chmod(buf, mode);
    stop = 1;
    pthread_join(t, NULL);
    say(op, 0);
  } else return 2;
  return 0;
}
`;
const probe = join(base, 'meta-probe');
writeFileSync(`${probe}.c`, PROBE_C);
execFileSync('gcc', ['-static', '-O', '-pthread', '-o', probe, `${probe}.c`]);
chmodSync(probe, 0o755);

interface Who { readonly name: string; readonly nobody: boolean; readonly uid: number }
const WHO: readonly Who[] = [{ name: 'root', nobody: false, uid: 0 }, { name: 'nobody', nobody: true, uid: 65534 }];

function tsjail(who: Who, home: string, cwd: string, args: readonly string[]): SpawnSyncReturns<string> {
  const argv = [...(who.nobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd, input: '', timeout: 60000, env: { ...process.env, HOME: home } });
}

/** A home (owned by `who`) with a project in it and a file of `who`'s outside both. */
function place(who: Who, name: string): { home: string; proj: string; outside: string } {
  const home = join(base, `${who.name}-${name}`), proj = join(home, 'proj'), outside = join(base, `${who.name}-${name}-outside`);
  mkdirSync(proj, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(home, '.bashrc'), '# mine\n', { mode: 0o644 });
  copyFileSync('/bin/true', join(outside, 'victim'));
  chmodSync(join(outside, 'victim'), 0o755);
  if (who.nobody) execFileSync('chown', ['-R', '65534:65534', home, outside]);
  return { home, proj, outside };
}

const mode = (path: string): string => (statSync(path).mode & 0o7777).toString(8);
/** getxattr=ENODATA when the file has no user.tsjail attribute. */
const xattr = (path: string): string => execFileSync(probe, ['getxattr', path], { encoding: 'utf8' });

for (const who of WHO) {
  test(`${who.name}: browser cookies, ~/.pgpass and shell history are hidden`, () => {
    const { home, proj } = place(who, 'browser');
    const files = ['.mozilla/firefox/p.default/cookies.sqlite', '.config/google-chrome/Default/Cookies', '.pgpass', '.bash_history'];
    for (const f of files) {
      mkdirSync(join(home, f, '..'), { recursive: true });
      writeFileSync(join(home, f), 'SESSION\n', { mode: 0o644 });
    }
    if (who.nobody) execFileSync('chown', ['-R', '65534:65534', home]);
    for (const ns of [[], ['--no-namespaces']]) {
      const r = tsjail(who, home, proj, [...ns, '--', 'sh', '-c', files.map((f) => `cat ${join(home, f)} 2>/dev/null`).join('; ') + '; echo end']);
      assert.equal(r.stdout, 'end\n', r.stderr);
    }
  });

  test(`${who.name}: a planted symlink cannot turn --ro into un-hiding a secret (.git -> ~/.ssh)`, () => {
    const { home, proj } = place(who, 'rolink');
    mkdirSync(join(home, '.ssh/keys'), { recursive: true });
    writeFileSync(join(home, '.ssh/keys/id'), 'PRIVATE KEY\n', { mode: 0o644 });
    symlinkSync('../.ssh', join(proj, '.git'));
    symlinkSync('../.ssh/keys', join(proj, 'keys'));
    if (who.nobody) execFileSync('chown', ['-R', '-h', '65534:65534', home]);
    for (const given of ['.git', 'keys']) {
      const r = tsjail(who, home, proj, ['--ro', given, '--', 'cat', join(home, '.ssh/keys/id')]);
      assert.equal(r.status, 125, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`--ro ${given}: .* leads through a symlink to ${home}/\\.ssh.*, which is hidden`));
    }
  });

  test(`${who.name}: a $HOME that is a symlink: the home directory as working directory stays read-only`, () => {
    const real = join(base, `${who.name}-realhome`), link = join(base, `${who.name}-homelink`);
    mkdirSync(real);
    writeFileSync(join(real, '.bashrc'), '# mine\n', { mode: 0o644 });
    if (who.nobody) execFileSync('chown', ['-R', '65534:65534', real]);
    symlinkSync(real, link);
    const r = tsjail(who, link, real, ['--', 'sh', '-c', 'echo evil >> .bashrc; echo done']);
    assert.equal(r.stdout, 'done\n', r.stderr);
    assert.equal(readFileSync(join(real, '.bashrc'), 'utf8'), '# mine\n', r.stderr);
    assert.match(r.stderr, /is your home: it stays read-only/);
  });

  test(`${who.name}: without namespaces, no chmod of a host file the jail's uid owns (chmod, fchmod of a read-only fd, fchmodat2 of an O_PATH fd)`, () => {
    const { home, proj, outside } = place(who, 'chmod');
    const victim = join(outside, 'victim');
    const script = ['chmod', 'fchmod', 'fchmodat2'].map((op) => `${probe} ${op} ${victim} 777`).join('; ') + `; ${probe} chmod ${home} 777`;
    const r = tsjail(who, home, proj, ['--no-namespaces', '--', 'sh', '-c', script]);
    assert.equal(r.stdout, 'chmod=EACCES\nfchmod=EACCES\nfchmodat2=EACCES\nchmod=EACCES\n', r.stderr);
    assert.equal(mode(victim), '755');
    assert.equal(mode(home), '755');
  });

  test(`${who.name}: without namespaces, a thread racing chmod's path between the workspace and a host file never changes the host file`, () => {
    const { home, proj, outside } = place(who, 'race');
    const victim = join(outside, 'victim');
    writeFileSync(join(proj, 'mine'), 'x\n');
    if (who.nobody) execFileSync('chown', ['65534:65534', join(proj, 'mine')]);
    const r = tsjail(who, home, proj, ['--no-namespaces', '--', probe, 'race', join(proj, 'mine'), victim, '777']);
    assert.equal(r.stdout, 'race=ok\n', r.stderr);
    assert.equal(mode(victim), '755');
    assert.equal(mode(join(proj, 'mine')), '777');
  });

  test(`${who.name}: without namespaces, chmod in the workspace works; as root no set-uid file is made there`, () => {
    const { home, proj } = place(who, 'own');
    const r = tsjail(who, home, proj, ['--no-namespaces', '--', 'sh', '-c', `cp /bin/true ./t && chmod 700 ./t && ${probe} fchmod ./t 750 && ./t && echo ran; ${who.nobody ? '' : `${probe} chmod ./t 4755`}`]);
    assert.equal(r.stdout, `fchmod=ok\nran\n${who.nobody ? '' : 'chmod=EPERM\n'}`, r.stderr);
    assert.equal(mode(join(proj, 't')), '750');
  });

  test(`${who.name}: without namespaces, no extended attribute is set on a host file the jail's uid owns`, () => {
    const { home, proj, outside } = place(who, 'xattr');
    const victim = join(outside, 'victim');
    const r = tsjail(who, home, proj, ['--no-namespaces', '--', 'sh', '-c', `${probe} setxattr ${victim}; ${probe} fsetxattr ${victim}`]);
    assert.equal(r.stdout, 'setxattr=EOPNOTSUPP\nfsetxattr=EOPNOTSUPP\n', r.stderr);
    assert.equal(xattr(victim), 'getxattr=ENODATA\n');
  });
}

test('network rules: a SOCK_SEQPACKET inet socket (SCTP by protocol 0) is refused, as SCTP by number is', () => {
  const who = WHO[0]!;
  const { home, proj } = place(who, 'seqpacket');
  // SOCK_SEQPACKET | SOCK_CLOEXEC: the type's flags do not hide it.
  const script = [2, 10].map((family) => `${probe} socket ${family} ${5 | 0o2000000} 0`).join('; ');
  const r = tsjail(who, home, proj, ['--allow-net', '127.0.0.1:1', '--', 'sh', '-c', `${script}; ${probe} socket 2 1 0`]);
  assert.equal(r.stdout, 'socket=EPERM\nsocket=EPERM\nsocket=ok\n', r.stderr);
});

test('a policy\'s trace action holds where tsjail\'s own rules stop the same call (network rules, write explanations)', async () => {
  const who = WHO[0]!;
  const { home, proj } = place(who, 'trace');
  const policy = join(proj, 'trace.ts');
  writeFileSync(policy, `import { definePolicy, trace } from 'tsjail';
export default definePolicy({ default: 'allow', rules: [trace(0, 'mkdir', 'mkdirat', 'connect')] });
`);
  const server = createServer((c) => c.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = tsjail(who, home, proj, ['--policy', policy, '--allow-net', `127.0.0.1:${port}`, '--', 'sh', '-c', `mkdir made 2>/dev/null; test -d made && echo made; ${probe} connect ${port}`]);
    assert.equal(r.stdout, 'connect=ENOSYS\n', r.stderr);
  } finally {
    server.close();
  }
});

test('nobody: the session\'s runtime directory /run/user/UID is hidden: its sockets (the session bus) cannot be connected to', async () => {
  const who = WHO[1]!;
  const { home, proj } = place(who, 'runtime');
  const runtime = '/run/user/65534';
  const made = !existsSync(runtime);
  if (made) mkdirSync(runtime, { recursive: true, mode: 0o700 });
  execFileSync('chown', ['65534:65534', runtime]);
  const sock = join(runtime, `tsjail-red2-${process.pid}.sock`);
  const server: Server = createServer((c) => c.end());
  await new Promise<void>((resolve) => server.listen(sock, () => resolve()));
  chmodSync(sock, 0o777);
  try {
    const r = tsjail(who, home, proj, ['--', probe, 'uconnect', sock]);
    assert.equal(r.stdout, 'uconnect=ENOENT\n', r.stderr);
  } finally {
    server.close();
    rmSync(sock, { force: true });
    if (made) rmSync(runtime, { recursive: true, force: true });
  }
});

test('the Docker socket and the runtime directory are hidden by default', () => {
  const fs = resolveFs([], { home: '/nonexistent-home', cwd: '/', root: false, uid: 1234 });
  const hidden = fs.rules.filter((r) => r.access === 'hide').map((r) => r.path);
  assert.ok(hidden.includes('/run/user/1234') && hidden.includes('/run/docker.sock'), hidden.join(' '));
});

test('--report and --pidfile do not follow a symlink planted in the working directory to a file', () => {
  const who = WHO[0]!;
  const { home, proj, outside } = place(who, 'outputs');
  const victim = join(outside, 'precious');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, join(proj, 'report.jsonl'));
  symlinkSync(victim, join(proj, 'pid.txt'));
  for (const flag of ['--report', '--pidfile']) {
    const r = tsjail(who, home, proj, [flag, flag === '--report' ? 'report.jsonl' : 'pid.txt', '--', 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write ${flag} .*: it is a symlink (to a file|outside the system's directories)`));
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  }
  // Nor to a device or to one of tsjail's own fds (a planted link to /dev/kmsg, /proc/self/fd/N)...
  for (const [name, to] of [['kmsg.json', '/dev/kmsg'], ['fd.json', '/proc/self/fd/5'], ['null.json', '/dev/null']] as const) {
    symlinkSync(to, join(proj, name));
    const r = tsjail(who, home, proj, ['--report', name, '--', 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write --report ${name.replace('.', '\\.')}: it is a symlink outside the system's directories`));
  }
  // ...while the system's own links are followed to what is not a regular file (/dev/stderr, here /dev/null).
  const r = tsjail(who, home, proj, ['--report', '/dev/null', '--', 'sh', '-c', `${probe} socket 40 1 0; echo ran`]);
  assert.equal(r.stdout, 'socket=EPERM\nran\n', r.stderr);
});

for (const who of WHO) {
  test(`--report and --pidfile (${who.name}) do not follow a directory symlink a jail planted on the way; root's own links (/var/run) still are`, () => {
    const { home, proj, outside } = place(who, 'outdir');
    const victim = join(outside, 'victim-dir');
    mkdirSync(victim);
    chownSync(victim, who.uid, who.uid);
    for (const name of ['report.jsonl', 'app.pid']) writeFileSync(join(victim, name), 'precious\n');
    // An earlier jail, allowed to write its workspace, leaves a link there.
    const plant = tsjail(who, home, proj, ['--', 'ln', '-s', victim, 'out']);
    assert.equal(plant.status, 0, plant.stderr);
    for (const [flag, file] of [['--report', 'out/report.jsonl'], ['--pidfile', 'out/app.pid'], ['--report', './out/../out/report.jsonl']] as const) {
      const r = tsjail(who, home, proj, [flag, file, '--', 'true']);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot write ${flag} ${file.replace(/\./g, '\\.')}: \\S+/out is a symlink outside the system's directories .*name the directory itself`));
    }
    for (const name of ['report.jsonl', 'app.pid']) assert.equal(readFileSync(join(victim, name), 'utf8'), 'precious\n');
    if (!who.nobody && lstatSync('/var/run').isSymbolicLink()) {
      const pid = tsjail(who, home, proj, ['--pidfile', '/var/run/tsjail-redteam.pid', '--', 'true']);
      assert.equal(pid.status, 0, pid.stderr);
      assert.ok(!existsSync('/run/tsjail-redteam.pid'), 'written and removed at the end');
    }
  });
}

test('--pidfile: a FIFO planted there fails at once; what the jail puts in its place (a directory, a symlinked parent) is left alone at the end', () => {
  const who = WHO[0]!;
  const { home, proj, outside } = place(who, 'pidfile');
  spawnSync('mkfifo', [join(proj, 'fifo.pid')]);
  const fifo = tsjail(who, home, proj, ['--pidfile', 'fifo.pid', '--', 'true']);
  assert.equal(fifo.status, 125);
  assert.match(fifo.stderr, /cannot write --pidfile fifo\.pid: ENXIO/);
  // The jail swaps the pidfile for a directory: its status passes through, no stack trace, the directory stays.
  const dir = tsjail(who, home, proj, ['--pidfile', 'j.pid', '--', 'sh', '-c', 'rm j.pid; mkdir j.pid; exit 3']);
  assert.equal(dir.status, 3, dir.stderr);
  assert.doesNotMatch(dir.stderr, /internal error|    at /);
  assert.ok(statSync(join(proj, 'j.pid')).isDirectory());
  // The jail makes the pidfile's directory a symlink to a directory holding a file of that name: that file stays.
  const victim = join(outside, 'pid-victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'app.pid'), 'precious\n');
  mkdirSync(join(proj, 'state'));
  const swap = tsjail(who, home, proj, ['--pidfile', 'state/app.pid', '--', 'sh', '-c', `mv state state.old && ln -s ${victim} state`]);
  assert.equal(swap.status, 0, swap.stderr);
  assert.equal(readFileSync(join(victim, 'app.pid'), 'utf8'), 'precious\n');
});

test('tsjail learn -o does not write through a symlink the jail put at that path', () => {
  const { home, proj, outside } = place(WHO[0]!, 'learn');
  const victim = join(outside, 'precious');
  writeFileSync(victim, 'precious\n');
  const r = spawnSync(process.execPath, [BIN, 'learn', '-o', 'policy.ts', '--', 'sh', '-c', `ln -s ${victim} policy.ts`],
    { encoding: 'utf8', cwd: proj, input: '', timeout: 60000, env: { ...process.env, HOME: home } });
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /cannot write --output policy\.ts: it is a symlink (to a file|outside the system's directories)/);
  assert.match(r.stdout, /definePolicy/);
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
});

// Where user namespaces are refused (bubblewrap under a filter refusing CLONE_NEWUSER, as Docker's
// profile does), tsjail falls back to no namespaces by itself: chmod is ruled there too.
const refusing = join(base, 'refuse-userns.bpf');
writeFileSync(refusing, compileFilter(definePolicy({
  default: 'allow',
  rules: [errno('EPERM', 'clone', { clone_flags: hasAll(CLONE_NEWUSER) }), errno('EPERM', 'unshare', { unshare_flags: hasAll(CLONE_NEWUSER) }), errno('ENOSYS', 'clone3')],
})));
for (const who of WHO) {
  test(`${who.name}, where user namespaces are refused: chmod of ~/.bashrc refused, in the workspace performed`, () => {
    const { home, proj } = place(who, 'fallback');
    const fd = openSync(refusing, 'r');
    try {
      const argv = [...(who.nobody ? NOBODY : []), 'bwrap', ...(who.nobody ? ['--unshare-user'] : []), '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
        '--tmpfs', '/tmp', '--tmpfs', '/run', '--bind', base, base, '--chdir', proj, '--setenv', 'HOME', home, '--seccomp', '3',
        process.execPath, BIN, 'run', '--', 'sh', '-c', `${probe} chmod ${home}/.bashrc 666; touch mine; ${probe} chmod mine 600`];
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd], timeout: 60000 });
      assert.match(r.stderr, /running WITHOUT namespaces/);
      assert.equal(r.stdout, 'chmod=EACCES\nchmod=ok\n', r.stderr);
      assert.equal(mode(join(home, '.bashrc')), '644');
      assert.equal(mode(join(proj, 'mine')), '600');
    } finally {
      closeSync(fd);
    }
  });
}
