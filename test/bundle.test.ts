// tsjail run --bundle: an OCI bundle built from host binaries, run by tsjail and by runc.
import { runContainer } from '../scripts/run-container';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
const haveCrun = spawnSync('crun', ['--version']).status === 0;
const onX86 = process.arch === 'x64' ? false : 'x86_64 probe';

function bundle(args: string[], extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(work, 'b-'));
  chmodSync(dir, 0o755); // reachable for a user namespace's root, a host uid of its own
  const rootfs = join(dir, 'rootfs');
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'proc', 'tmp', 'dev', 'sys']) mkdirSync(join(rootfs, d), { recursive: true });
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
const containerId = (): string => `tsjail-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const viaRunc = (dir: string) => runContainer('runc', dir, containerId());
const viaCrun = (dir: string) => runContainer('crun', dir, containerId());

test('a bundle runs with its args, env, cwd, root, mounts, hostname, rlimits and seccomp profile, as under runc', { skip: onX86 }, () => {
  const show = bundle(['/bin/sh', '-c', 'echo "$GREETING $(hostname) $(ulimit -n) $(pwd)"; touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp; ls /proc/self >/dev/null && echo proc']);
  const expected = 'from-bundle bundled 64 /\nro\ntmp\nproc\n';
  assert.equal(viaTsjail(show).stdout, expected);
  if (haveRunc) assert.equal(viaRunc(show).stdout, expected);
  if (haveCrun) assert.equal(viaCrun(show).stdout, expected, viaCrun(show).stderr);
  const probe = bundle(['/probe', 'keyctl']);
  assert.equal(viaTsjail(probe).stdout, 'blocked EACCES\n');
  if (haveRunc) assert.equal(viaRunc(probe).stdout, 'blocked EACCES\n');
  if (haveCrun) assert.equal(viaCrun(probe).stdout, 'blocked EACCES\n');
  const net = bundle(['/probe', 'connect', '1']);
  assert.match(viaTsjail(net).stdout, /^blocked (ENETUNREACH|ECONNREFUSED)\n$/);
});

test('the config.json `runc spec` writes (made to run host binaries) gives the same results under tsjail, runc and crun', { skip: haveRunc ? false : 'runc is not installed' }, () => {
  const dir = mkdtempSync(join(work, 'spec-'));
  execFileSync('runc', ['spec', '--bundle', dir]);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(dir, 'rootfs', d), { recursive: true });
  // What the spec gives: capability sets, /dev with devpts, shm and mqueue, sysfs, a read-only
  // cgroup view (runc: v1 hierarchies here, tsjail: cgroup2; compared only as mounted), masked and
  // read-only /proc paths; added: host binaries, a sysctl, supplementary groups, a non-root user.
  const script = [
    // (runc sometimes adds a /dev/core link to /proc/kcore, which this kernel does not have)
    'grep ^Cap /proc/self/status', 'id -G', 'ls /dev /dev/pts | grep -vx core', 'cat /proc/sys/net/ipv4/ip_forward',
    'echo 1 > /proc/sys/kernel/shmmni 2>/dev/null && echo sys-writable || echo sys-ro', 'cat /proc/timer_list | wc -c',
    'ls /proc/acpi | wc -l', 'touch /sys/x 2>/dev/null || echo sysfs-ro', 'mountpoint -q /dev/mqueue && echo mqueue',
    'mountpoint -q /dev/shm && echo shm', 'test -c /dev/pts/ptmx && echo devpts',
    'mountpoint -q /sys/fs/cgroup && echo cgroup',
  ].join('; ');
  config.process = { ...config.process, terminal: false, args: ['/bin/sh', '-c', script], user: { uid: 1000, gid: 1000, additionalGids: [5, 20] } };
  config.process.capabilities.inheritable = ['CAP_NET_BIND_SERVICE'];
  config.process.capabilities.ambient = ['CAP_NET_BIND_SERVICE', 'CAP_KILL'];
  config.mounts = [
    ...config.mounts,
    ...['/usr', '/lib', '/lib64', '/bin'].map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })),
  ];
  config.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const ours = viaTsjail(dir);
  assert.equal(ours.status, 0, ours.stderr);
  const NBS = (1 << 10).toString(16).padStart(16, '0');
  assert.match(ours.stdout, new RegExp(`^CapInh:\t${NBS}\nCapPrm:\t${NBS}\nCapEff:\t${NBS}\nCapBnd:\t0000000020000420\nCapAmb:\t${NBS}\n1000 5 20\n`));
  assert.match(ours.stdout, /\n1\nsys-ro\n0\n0\nsysfs-ro\nmqueue\nshm\ndevpts\ncgroup\n$/);
  const runc = viaRunc(dir);
  assert.equal(ours.stdout, runc.stdout, runc.stderr);
  if (haveCrun) assert.equal(ours.stdout, viaCrun(dir).stdout);
  // A sysctl that is not namespaced would change the host: refused, as runc refuses it.
  config.linux.sysctl = { 'kernel.panic': '1' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const host = viaTsjail(dir);
  assert.equal(host.status, 125);
  assert.match(host.stderr, /sysctl kernel\.panic is not namespaced/);
});

test('a user namespace with the bundle\'s uid/gid mappings (0 -> 100000, 65536 ids), as under runc and crun', () => {
  const dir = bundle(['/bin/sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; stat -c "%u:%g" /usr/bin; touch /tmp/f && stat -c "%u:%g" /tmp/f'], {
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    },
  });
  // runc and crun create the device nodes in the rootfs's /dev as the namespace's root.
  execFileSync('chown', ['100000:100000', join(dir, 'rootfs/dev')]);
  // Host root's files are outside the map: they show as the overflow id.
  const expected = 'uid=0 gid=0 groups=0\n 0 100000 65536\n 0 100000 65536\n65534:65534\n0:0\n';
  const ours = viaTsjail(dir);
  assert.equal(ours.stdout, expected, ours.stderr);
  if (haveRunc) assert.equal(viaRunc(dir).stdout, expected);
  if (haveCrun) assert.equal(viaCrun(dir).stdout, expected);
  // Rootless, only one's own id can be mapped.
  const rootless = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'run', '--bundle', dir], { encoding: 'utf8', input: '' });
  assert.equal(rootless.status, 125);
  assert.match(rootless.stderr, /rootless, only your own uid \(65534\) can be mapped/);
});

test('fields tsjail cannot carry out are an error that names them', () => {
  const r = viaTsjail(bundle(['/bin/true'], { linux: { namespaces: [{ type: 'pid', path: '/proc/1/ns/pid' }], intelRdt: {}, resources: { devices: [{ allow: true, access: 'rwm' }] } } }));
  assert.equal(r.status, 125);
  assert.match(r.stderr, /config\.json uses what tsjail does not support: linux\.intelRdt, linux\.resources\.devices \(rules other than deny-all.*\), linux\.namespaces\[pid\]\.path \(joining a pid namespace; joinable: network, ipc, uts, cgroup\)/);
  const shared = viaTsjail(bundle(['/bin/true'], { mounts: [{ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind', 'rshared'] }, { destination: '/x', type: 'nfs', source: 'h:/x' }] }));
  assert.match(shared.stderr, /mounts\[\/mnt\]: propagation 'rshared' is not supported.*mounts\[\/x\]: filesystem type 'nfs' is not supported/);
  assert.match(viaTsjail(join(work, 'missing')).stderr, /cannot read .*config\.json: ENOENT/);
});
