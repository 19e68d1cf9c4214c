// Red-team attacks on a root-started jail that SUCCEEDED when written (tsjail now refuses the
// options that allowed them): each test fails while the hole is open. The jail's root writes host files as the host's root through an idmapped --bind,
// -r DIR or --overlay upper directory; the set-id seccomp rules stop set-uid bits but not file
// capabilities: with --cap-keep SETFCAP, fsetxattr("security.capability") through such a mount is
// converted by the kernel to rootid 0 (v2 xattr), i.e. a file capability valid on the host.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-red-'));
chmodSync(work, 0o755);
// What the attacks leave (binaries with host file capabilities) must not outlive the run.
after(() => rmSync(work, { recursive: true, force: true }));

// Sets security.capability = cap_setuid,cap_setgid+ep (v2) on argv[1]; the kernel rewrites the
// root id through the caller's user namespace and the mount's idmapping.
const FCAP_C = `#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <sys/xattr.h>
int main(int c, char **v) {
  uint32_t d[5] = { 0x02000000 | 1, (1u << 7) | (1u << 6), 0, 0, 0 };
  int r = setxattr(v[1], "security.capability", d, sizeof d, 0);
  printf("setxattr=%s\\n", r ? strerror(errno) : "ok");
  return r ? 1 : 0;
}
`;
const fcap = join(work, 'fcap');
writeFileSync(`${fcap}.c`, FCAP_C);
execFileSync('gcc', ['-static', '-O', '-o', fcap, `${fcap}.c`]);

/** The host's view of a file's security.capability, or '' when it has none. */
const hostCaps = (file: string): string => spawnSync('getcap', ['-n', file], { encoding: 'utf8' }).stdout.trim();

/** tsjail refuses the combination before anything runs. */
const refused = (r: ReturnType<typeof tsjail>, cap: string): void => {
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, new RegExp(`CAP_${cap} cannot be kept`));
};

const tsjail = (args: string[]) =>
  spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', cwd: work, input: '', timeout: 30000 });

/** A directory with a copy of /bin/true (root-owned, 0755) and the static setxattr program. */
function victimDir(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { mode: 0o755 });
  copyFileSync('/bin/true', join(dir, 'victim'));
  chmodSync(join(dir, 'victim'), 0o755);
  copyFileSync(fcap, join(dir, 'fcap'));
  chmodSync(join(dir, 'fcap'), 0o755);
  return dir;
}

test('--cap-keep SETFCAP cannot leave a host file capability through an idmapped --bind', () => {
  const dir = victimDir('bind');
  const mnt = join(work, 'bind-mnt');
  mkdirSync(mnt);
  const r = tsjail(['--cap-keep', 'SETFCAP', '--bind', `${dir}:${mnt}`, '--', join(mnt, 'fcap'), join(mnt, 'victim')]);
  refused(r, 'SETFCAP');
  assert.equal(hostCaps(join(dir, 'victim')), '', `the host now runs ${dir}/victim with capabilities\n${r.stdout}${r.stderr}`);
});

test('--cap-keep SETFCAP cannot leave a host file capability in -r DIR', () => {
  const dir = victimDir('root');
  const r = tsjail(['--cap-keep', 'SETFCAP', '-r', dir, '--', '/fcap', '/victim']);
  refused(r, 'SETFCAP');
  assert.equal(hostCaps(join(dir, 'victim')), '', `the host now runs ${dir}/victim with capabilities\n${r.stdout}${r.stderr}`);
});

test('--cap-keep SETFCAP cannot leave a host file capability in an --overlay upper directory', () => {
  const dir = victimDir('lower');
  const upper = join(work, 'upper');
  mkdirSync(upper);
  const r = tsjail(['--cap-keep', 'SETFCAP', '-r', dir, '--overlay', upper, '--', '/fcap', '/victim']);
  refused(r, 'SETFCAP');
  assert.equal(hostCaps(join(upper, 'upper', 'victim')), '', `the host now runs ${upper}/upper/victim with capabilities\n${r.stdout}${r.stderr}`);
});

// The read-only flag of a --ro-bind (and of --ro-root) is set by the jail's own user namespace,
// so the kernel does not lock it: with CAP_SYS_ADMIN kept and mount allowed, the jail remounts it
// read-write and, the mount being idmapped, writes the host's root-owned files as the host root.
const REMOUNT_C = `#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
int main(int c, char **v) {
  int r = mount(0, v[1], 0, MS_REMOUNT | MS_BIND, 0);
  printf("remount=%s\\n", r ? strerror(errno) : "ok");
  FILE *f = fopen(v[2], "w");
  if (!f) { perror("fopen"); return 1; }
  fputs("pwned\\n", f);
  return fclose(f) ? 1 : 0;
}
`;
const remount = join(work, 'remount');
writeFileSync(`${remount}.c`, REMOUNT_C);
execFileSync('gcc', ['-static', '-O', '-o', remount, `${remount}.c`]);

test('--cap-keep SYS_ADMIN --allow mount cannot make a --ro-bind writable', () => {
  const dir = join(work, 'ro');
  mkdirSync(dir, { mode: 0o755 });
  writeFileSync(join(dir, 'f'), 'orig\n', { mode: 0o644 });
  const mnt = join(work, 'ro-mnt');
  mkdirSync(mnt);
  const r = tsjail(['--cap-keep', 'SYS_ADMIN', '--allow', 'mount', '--ro-bind', `${dir}:${mnt}`, '--', remount, mnt, join(mnt, 'f')]);
  refused(r, 'SYS_ADMIN');
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'orig\n', `the jail rewrote a root-owned file of a --ro-bind\n${r.stdout}${r.stderr}`);
});

test('--cap-keep SYS_ADMIN --allow mount cannot make --ro-root writable', () => {
  const dir = join(work, 'roroot');
  for (const d of ['', 'dev', 'proc', 'sys', 'tmp']) mkdirSync(join(dir, d), { mode: 0o755 });
  writeFileSync(join(dir, 'f'), 'orig\n', { mode: 0o644 });
  copyFileSync(remount, join(dir, 'remount'));
  chmodSync(join(dir, 'remount'), 0o755);
  const r = tsjail(['--ro-root', '--cap-keep', 'SYS_ADMIN', '--allow', 'mount', '-r', dir, '--', '/remount', '/', '/f']);
  refused(r, 'SYS_ADMIN');
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'orig\n', `the jail rewrote a root-owned file of its --ro-root\n${r.stdout}${r.stderr}`);
});
