// Real consumers of tsjail's output: bubblewrap loads the raw filter with --seccomp FD.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFilter } from '../src/bpf/compile';
import { allow, definePolicy, errno, kill } from '../src/policy/dsl';
import { TIOCSTI } from '../src/policy/constants';
import { DEFAULT_ALLOWED } from '../src/jail/defaultPolicy';
import { REPO_ROOT } from '../scripts/upstream';

const haveBwrap = spawnSync('bwrap', ['--version']).status === 0 ? false : 'bubblewrap is not installed (apt-get install bubblewrap)';
const work = mkdtempSync(join(tmpdir(), 'tsjail-interop-'));
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
