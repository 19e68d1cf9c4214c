// Learn mode: the learned policy re-runs its command byte-identically and blocks what it never used.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-learn-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
const tsjail = (args: string[]): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work, input: '', timeout: 60000 });

const PROGRAMS: readonly (readonly string[])[] = [
  ['sh', '-c', 'echo one; echo two | tr a-z A-Z'],
  ['/usr/bin/python3', '-c', 'import json; print(json.dumps({"x": [1, 2]}))'],
  [process.execPath, '-e', 'console.log([3, 1, 2].sort().join(","))'],
  ['ls', '/usr'],
];

for (const cmd of PROGRAMS) {
  test(`learn ${cmd[0]}: the learned policy runs it to the same output`, () => {
    const policy = join(work, `${cmd[0]!.split('/').pop()}.ts`);
    const learned = tsjail(['learn', '-o', policy, '--', ...cmd]);
    assert.equal(learned.status, 0, learned.stderr);
    assert.match(learned.stderr, /tsjail: learned \d+ distinct syscalls from \d+ calls -> /);
    const again = tsjail(['run', '--policy', policy, '--', ...cmd]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, learned.stdout);
    assert.equal(again.stderr, '', 'no denial under the learned policy');
  });
}

test('a learned policy denies what the command never used (escape probe), and --format json and --merge work', { skip: process.arch === 'x64' ? false : 'x86_64 probe' }, () => {
  const ts = join(work, 'probe.ts');
  // The probe exits 1 when its call succeeds ("ESCAPED"); learn passes that status through.
  assert.equal(tsjail(['learn', '-o', ts, '--', PROBE, 'read', '/etc/hostname']).status, 1);
  const policy = readFileSync(ts, 'utf8');
  assert.match(policy, /default: errno\('EPERM'\)/);
  assert.doesNotMatch(policy, /'keyctl'/);
  const blocked = tsjail(['run', '--policy', ts, '--', PROBE, 'keyctl']);
  assert.equal(blocked.stdout, 'blocked EPERM\n');
  assert.match(blocked.stderr, /keyctl\(.*\) -> EPERM\n {8}decided by: the default action/);
  // JSON: an OCI profile tsjail run accepts.
  const json = join(work, 'probe.json');
  assert.equal(tsjail(['learn', '--format', 'json', '-o', json, '--', PROBE, 'read', '/etc/hostname']).status, 1);
  const profile = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(tsjail(['run', '--policy', json, '--', PROBE, 'read', '/etc/hostname']).stdout, 'ESCAPED\n');
  assert.equal(tsjail(['run', '--policy', json, '--', PROBE, 'keyctl']).stdout, 'blocked EPERM\n');
  // --merge widens the first policy with a second command.
  const merged = join(work, 'merged.ts');
  assert.equal(tsjail(['learn', '--merge', ts, '-o', merged, '--', PROBE, 'keyctl']).status, 1);
  assert.match(readFileSync(merged, 'utf8'), /'keyctl'/);
  assert.equal(tsjail(['run', '--policy', merged, '--', PROBE, 'keyctl']).stdout, 'ESCAPED\n');
  assert.equal(tsjail(['run', '--policy', merged, '--', PROBE, 'read', '/etc/hostname']).stdout, 'ESCAPED\n');
  assert.match(tsjail(['learn', '--merge', join(REPO_ROOT, 'fixtures/strict.ts'), '--', 'true']).stderr, /not written by tsjail learn/);
});
