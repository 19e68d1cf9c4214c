// Without a mount namespace Landlock alone holds the file rules, and it rules neither a file's
// owner nor its times: chown/lchown/fchown/fchownat and utime/utimes/futimesat/utimensat of a
// host file the jail's uid owns went through (as root: of every root-owned file). tsjail performs
// them itself on its own opened copy where the rules make the file writable (fsMetadata.ts).
// Root and rootless (setpriv to uid 65534), each with --no-namespaces.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: without namespaces it is the host's, read-only.
const base = mkdtempSync('/var/tmp/tsjail-meta-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

// `probe OP PATH [ARGS]` prints OP=ok or OP=<errno>. Times set are 1000000000 s (+ 5 ns where
// the call takes nanoseconds). `race A B`: a thread flips the path between A and B while utimes runs.
const PROBE_C = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>
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
  uid_t u = c > 3 ? (uid_t)atol(v[3]) : (uid_t)-1;
  gid_t g = c > 4 ? (gid_t)atol(v[4]) : (gid_t)-1;
  struct timespec ts[2] = { { 1000000000, 5 }, { 1000000000, 5 } };
  struct timeval tv[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  struct utimbuf ub = { 1000000000, 1000000000 };
  if (!strcmp(op, "chown")) say(op, chown(p, u, g));
  else if (!strcmp(op, "lchown")) say(op, lchown(p, u, g));
  else if (!strcmp(op, "fchown")) { int fd = open(p, O_RDONLY); say(op, fd < 0 ? -1 : fchown(fd, u, g)); }
  else if (!strcmp(op, "fchownat")) { int fd = open(p, O_PATH); say(op, fd < 0 ? -1 : fchownat(fd, "", u, g, AT_EMPTY_PATH)); }
  else if (!strcmp(op, "utime")) say(op, (int)syscall(SYS_utime, p, &ub));
  else if (!strcmp(op, "utimes")) say(op, (int)syscall(SYS_utimes, p, tv));
  else if (!strcmp(op, "futimesat")) say(op, (int)syscall(SYS_futimesat, AT_FDCWD, p, tv));
  else if (!strcmp(op, "utimensat")) say(op, (int)syscall(SYS_utimensat, AT_FDCWD, p, ts, 0));
  else if (!strcmp(op, "lutimensat")) say(op, (int)syscall(SYS_utimensat, AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW));
  else if (!strcmp(op, "futimens")) { int fd = open(p, O_RDONLY); say(op, fd < 0 ? -1 : (int)syscall(SYS_utimensat, fd, NULL, ts, 0)); }
  else if (!strcmp(op, "touch")) say(op, (int)syscall(SYS_utimensat, AT_FDCWD, p, NULL, 0));
  else if (!strcmp(op, "omit")) { ts[0].tv_nsec = UTIME_OMIT; say(op, (int)syscall(SYS_utimensat, AT_FDCWD, p, ts, 0)); }
  else if (!strcmp(op, "race")) {
    paths[0] = p; paths[1] = v[3];
    strcpy(buf, p);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    for (int i = 0; i < 3000; i++) syscall(SYS_utimes, buf, tv);
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

function tsjail(who: Who, home: string, cwd: string, script: string): SpawnSyncReturns<string> {
  const argv = [...(who.nobody ? NOBODY : []), process.execPath, BIN, 'run', '--no-namespaces', '--', 'sh', '-c', script];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd, input: '', timeout: 60000, env: { ...process.env, HOME: home } });
}

/** A home with a project (the workspace) in it, and a file and a symlink of `who`'s outside both; all owned by `who`. */
function place(who: Who, name: string): { home: string; proj: string; victim: string; link: string } {
  const home = join(base, `${who.name}-${name}`), proj = join(home, 'proj'), outside = join(base, `${who.name}-${name}-outside`);
  mkdirSync(proj, { recursive: true });
  mkdirSync(outside);
  const victim = join(outside, 'victim'), link = join(outside, 'link');
  copyFileSync('/bin/true', victim);
  chmodSync(victim, 0o755);
  symlinkSync(victim, link);
  writeFileSync(join(proj, 'mine'), 'x\n');
  if (who.nobody) execFileSync('chown', ['-R', '-h', '65534:65534', home, outside]);
  return { home, proj, victim, link };
}

/** What a metadata change leaves behind: owner, group, mtime and ctime (a no-op chown moves ctime too). */
const marks = (path: string): string => {
  const st = lstatSync(path, { bigint: true });
  return `${st.uid}:${st.gid} m${st.mtimeNs} c${st.ctimeNs}`;
};

for (const who of WHO) {
  const own = `${who.uid} ${who.uid}`;

  test(`${who.name}, without namespaces: no chown or utimes of a host file the jail's uid owns, by path, by fd or by O_PATH fd; each refusal reported`, () => {
    const { home, proj, victim, link } = place(who, 'host');
    const before = marks(victim), linkBefore = marks(link);
    const ops = ['chown', 'fchown', 'fchownat', 'utime', 'utimes', 'futimesat', 'utimensat', 'futimens', 'touch', 'omit'];
    const script = [...ops.map((op) => `${probe} ${op} ${victim} ${op.includes('chown') ? own : ''}`), `${probe} lchown ${link} ${own}`, `${probe} lutimensat ${link}`].join('; ');
    const r = tsjail(who, home, proj, script);
    assert.equal(r.stdout, [...ops, 'lchown', 'lutimensat'].map((op) => `${op}=EACCES\n`).join(''), r.stderr);
    assert.equal(marks(victim), before);
    assert.equal(marks(link), linkBefore);
    assert.match(r.stderr, new RegExp(`(chown|fchownat)\\(${victim}\\) -> EACCES`));
    assert.match(r.stderr, new RegExp(`utimensat\\(${victim}\\) -> EACCES`));
  });

  test(`${who.name}, without namespaces: in the workspace chown and utimes are performed as the kernel would for the jail's own ids`, () => {
    const { home, proj } = place(who, 'ws');
    const mine = join(proj, 'mine');
    symlinkSync('mine', join(proj, 'mylink'));
    if (who.nobody) execFileSync('chown', ['-h', '65534:65534', join(proj, 'mylink')]);
    // (A group the jail is not in; as root, an owner the jail may not give away without CAP_CHOWN.)
    const script = [`${probe} chown ${mine} ${own}`, `${probe} fchown ${mine} -1 ${who.uid}`, `${probe} chown ${mine} -1 4242`, `${probe} chown ${mine} 4242`,
      `${probe} lchown mylink ${own}`, `${probe} utimensat ${mine}`].join('; ');
    const r = tsjail(who, home, proj, script);
    assert.equal(r.stdout, 'chown=ok\nfchown=ok\nchown=EPERM\nchown=EPERM\nlchown=ok\nutimensat=ok\n', r.stderr);
    const st = statSync(mine, { bigint: true });
    assert.equal(`${st.uid}:${st.gid}`, `${who.uid}:${who.uid}`);
    assert.equal(st.mtimeNs, 1000000000n * 1000000000n + 5n, 'the times given, to the nanosecond');
    for (const [op, ns] of [['utimes', 0n], ['futimens', 5n], ['utime', 0n]] as const) {
      utimesSync(mine, 1, 1);
      const t = tsjail(who, home, proj, `${probe} ${op} mine`);
      assert.equal(t.stdout, `${op}=ok\n`, t.stderr);
      assert.equal(statSync(mine, { bigint: true }).mtimeNs, 1000000000n * 1000000000n + ns, op);
    }
    const touched = tsjail(who, home, proj, `${probe} omit mine; ${probe} touch mine`);
    assert.equal(touched.stdout, 'omit=ok\ntouch=ok\n', touched.stderr);
    assert.ok(statSync(mine).mtimeMs > Date.now() - 600_000, 'touched: the time is now');
  });

  test(`${who.name}, without namespaces: another's file in the workspace: touched only where its mode lets the jail write, never given times or a group`, () => {
    const { home, proj } = place(who, 'other');
    for (const [name, mode] of [['open', 0o666], ['closed', 0o644]] as const) {
      writeFileSync(join(proj, name), 'x\n');
      chmodSync(join(proj, name), mode);
      execFileSync('chown', ['4242:4242', join(proj, name)]);
    }
    const before = marks(join(proj, 'closed'));
    const r = tsjail(who, home, proj, `${probe} touch open; ${probe} utimensat open; ${probe} chown open -1 ${who.uid}; ${probe} touch closed; ${probe} futimens closed`);
    assert.equal(r.stdout, 'touch=ok\nutimensat=EPERM\nchown=EPERM\ntouch=EACCES\nfutimens=EPERM\n', r.stderr);
    assert.equal(marks(join(proj, 'closed')), before);
    assert.equal(statSync(join(proj, 'open')).gid, 4242);
  });

  test(`${who.name}, without namespaces: a symlink in the workspace to a host file: utimes through it refused, lchown of the link itself performed`, () => {
    const { home, proj, victim } = place(who, 'link');
    symlinkSync(victim, join(proj, 'out'));
    if (who.nobody) execFileSync('chown', ['-h', '65534:65534', join(proj, 'out')]);
    const before = marks(victim);
    const r = tsjail(who, home, proj, `${probe} utimensat out; ${probe} chown out ${own}; ${probe} lchown out ${own}; ${probe} lutimensat out`);
    assert.equal(r.stdout, 'utimensat=EACCES\nchown=EACCES\nlchown=ok\nlutimensat=ok\n', r.stderr);
    assert.equal(marks(victim), before);
  });

  test(`${who.name}, without namespaces: a thread racing utimes' path between the workspace and a host file never changes the host file`, () => {
    const { home, proj, victim } = place(who, 'race');
    const before = marks(victim);
    const r = tsjail(who, home, proj, `${probe} race ${join(proj, 'mine')} ${victim}`);
    assert.equal(r.stdout, 'race=ok\n', r.stderr);
    assert.equal(marks(victim), before);
    assert.equal(statSync(join(proj, 'mine')).mtimeMs, 1000000000 * 1000);
  });
}
