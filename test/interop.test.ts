// Real consumers of tsjail's output: bubblewrap loads the raw filter with --seccomp FD, runc
// the OCI export in a bundle.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFilter } from '../src/bpf/compile';
import { allow, definePolicy, errno, kill } from '../src/policy/dsl';
import { ADDR_NO_RANDOMIZE, TIOCSTI } from '../src/kernel/constants';
import { exportOci } from '../src/formats/ociExport';
import { formatJson } from '../src/formats/json';
import { DEFAULT_ALLOWED } from '../src/jail/defaultPolicy';
import { REPO_ROOT } from '../scripts/upstream';
import { probeBundle } from './helpers/probeBundle';

const haveBwrap = spawnSync('bwrap', ['--version']).status === 0 ? false : 'bubblewrap is not installed (apt-get install bubblewrap)';
const work = mkdtempSync(join(tmpdir(), 'tsjail-interop-'));
chmodSync(work, 0o755); // a root-started jail runs as a private id range: the probe must be reachable by others
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);

test('bwrap --seccomp FD enforces the raw filter: blocks what it should, runs the rest', { skip: haveBwrap || (process.arch === 'x64' ? false : 'x86_64 probe') }, () => {
  const policy = definePolicy({
    default: errno('ENOSYS'),
    rules: [
      allow(DEFAULT_ALLOWED),
      errno('EPERM', 'ioctl', { cmd: TIOCSTI }),
      errno('EPERM', 'keyctl'),
      kill('ptrace'),
      allow('clone', 'socket', 'personality', 'unshare', 'mount', 'pivot_root', 'capset'), // what bwrap itself needs is before the filter
    ],
  });
  const file = join(work, 'filter.bpf');
  writeFileSync(file, compileFilter(policy));
  const run = (args: string[]) => {
    const fd = openSync(file, 'r');
    try {
      return spawnSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--bind', work, work, '--seccomp', '3', PROBE, ...args],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd] });
    } finally {
      closeSync(fd);
    }
  };
  assert.equal(run(['tiocsti']).stdout, 'blocked EPERM\n');   // high bits set: still caught
  assert.equal(run(['keyctl']).stdout, 'blocked EPERM\n');
  assert.equal(run(['bpf']).stdout, 'blocked ENOSYS\n');      // the default
  assert.equal(run(['ptrace', '1']).status, 128 + 31);       // killed by SIGSYS (bwrap reports 128+N)
  assert.equal(run(['read', '/etc/hostname']).stdout, 'ESCAPED\n'); // allowed: it runs
  assert.equal(run(['int80-getpid']).status, 128 + 31);      // i386 ABI: the bad-arch action
});

const haveRunc = spawnSync('runc', ['--version']).status === 0 ? false : 'runc is not installed (apt-get install runc)';

test('runc enforces the OCI export: an OCI bundle built from host binaries blocks and allows as tsjail does', { skip: haveRunc || (process.arch === 'x64' ? false : 'x86_64 probe') }, () => {
  const policy = definePolicy({
    default: 'allow',
    rules: [
      errno('EPERM', 'keyctl', 'add_key'),
      errno(13, 'personality', { personality: ADDR_NO_RANDOMIZE }),
      kill('ptrace'),
    ],
  });
  const seccomp = exportOci(policy, ['x86_64']);
  const run = probeBundle(PROBE, seccomp);
  const jailed = (args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--host-fs', '--policy', policyFile, '--', PROBE, ...args], { encoding: 'utf8' });
  const policyFile = join(work, 'runc-policy.json');
  writeFileSync(policyFile, formatJson(seccomp, 0));
  for (const [args, expected] of [[['keyctl'], 'blocked EPERM\n'], [['add_key'], 'blocked EPERM\n'], [['personality'], 'blocked EACCES\n'], [['read', '/usr/bin/env'], 'ESCAPED\n']] as const) {
    assert.equal(run([...args]).stdout, expected, `runc: ${args.join(' ')}`);
    assert.equal(jailed([...args]).stdout, expected, `tsjail: ${args.join(' ')}`);
  }
  assert.equal(run(['ptrace', '1']).status, 128 + 31, 'runc: ptrace is killed');
});
