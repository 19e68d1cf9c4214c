// tsjail run --bundle: an OCI bundle built from host binaries, run by tsjail and by runc.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-bundle-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
const haveRunc = spawnSync('runc', ['--version']).status === 0;
const onX86 = process.arch === 'x64' ? false : 'x86_64 probe';

function bundle(args: string[], extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(work, 'b-'));
  const rootfs = join(dir, 'rootfs');
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'proc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'probe'), '');
  const config = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/usr/bin:/bin', 'GREETING=from-bundle'], cwd: '/',
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 64, soft: 64 }], noNewPrivileges: true },
    root: { path: 'rootfs', readonly: true },
    hostname: 'bundled',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
      ...['/usr', '/lib', '/lib64', '/bin'].map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })),
      { destination: '/probe', type: 'bind', source: PROBE, options: ['bind', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      seccomp: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] },
    },
    ...extra,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const viaTsjail = (dir: string) => spawnSync(process.execPath, [BIN, 'run', '--bundle', dir], { encoding: 'utf8', input: '' });
const viaRunc = (dir: string) => spawnSync('runc', ['run', '--bundle', dir, `tsjail-${process.pid}-${Math.random().toString(36).slice(2, 8)}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('a bundle runs with its args, env, cwd, root, mounts, hostname, rlimits and seccomp profile, as under runc', { skip: onX86 }, () => {
  const show = bundle(['/bin/sh', '-c', 'echo "$GREETING $(hostname) $(ulimit -n) $(pwd)"; touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp; ls /proc/self >/dev/null && echo proc']);
  const expected = 'from-bundle bundled 64 /\nro\ntmp\nproc\n';
  assert.equal(viaTsjail(show).stdout, expected);
  if (haveRunc) assert.equal(viaRunc(show).stdout, expected);
  const probe = bundle(['/probe', 'keyctl']);
  assert.equal(viaTsjail(probe).stdout, 'blocked EACCES\n');
  if (haveRunc) assert.equal(viaRunc(probe).stdout, 'blocked EACCES\n');
  const net = bundle(['/probe', 'connect', '1']);
  assert.match(viaTsjail(net).stdout, /^blocked (ENETUNREACH|ECONNREFUSED)\n$/);
});

test('fields tsjail cannot carry out are an error that names them', () => {
  const r = viaTsjail(bundle(['/bin/true'], { linux: { namespaces: [{ type: 'network', path: '/proc/1/ns/net' }], sysctl: { 'net.ipv4.ip_forward': '1' }, maskedPaths: ['/proc/kcore'] } }));
  assert.equal(r.status, 125);
  assert.match(r.stderr, /the bundle uses what tsjail does not support: linux\.sysctl, linux\.maskedPaths, linux\.namespaces\[network\]\.path \(joining a namespace\)/);
  assert.match(viaTsjail(join(work, 'missing')).stderr, /cannot read .*config\.json: ENOENT/);
});
