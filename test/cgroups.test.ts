// cgroup limits for real: memory (OOM kill), pids (fork refused), cpu (quota set); cleaned up.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const tsjail = (args: string[]): SpawnSyncReturns<string> => spawnSync(process.execPath, [BIN, 'run', ...args], { encoding: 'utf8', input: '', timeout: 60000 });

/**
 * The cgroups (tsjail-PID-TIME) the tsjail process `pid` made below this process's own, in every
 * hierarchy that has one (other test files run jails with limits at the same time).
 */
function leftovers(pid: number): string[] {
  const found: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    const dir = controllers === '' ? null : join('/sys/fs/cgroup', controllers.split(',')[0]!.replace(/^name=/, ''), path);
    try { if (dir) found.push(...readdirSync(dir).filter((n) => n.startsWith(`tsjail-${pid}-`))); } catch { /* not mounted */ }
  }
  return found;
}

test('--memory: the OOM killer ends the process and tsjail says the limit was hit', () => {
  const r = tsjail(['--memory', '32M', '--', '/usr/bin/python3', '-c', 'x = bytearray(256 * 1024 * 1024); print("allocated")']);
  assert.equal(r.status, 137);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /tsjail: the memory limit \(33554432 bytes\) was hit: the kernel's OOM killer ended 1 process/);
  assert.equal(tsjail(['--memory', '256M', '--', '/usr/bin/python3', '-c', 'x = bytearray(16 * 1024 * 1024); print("allocated")']).stdout, 'allocated\n');
});

test('--pids: forks beyond the limit are refused and reported', () => {
  const r = tsjail(['--pids', '6', '--', 'sh', '-c', 'n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done 2>/dev/null; wait; echo done']);
  assert.match(r.stderr, /tsjail: the pids limit \(6\) was hit: \d+ forks? (was|were) refused/);
});

test('--cpu sets the quota the scheduler enforces; the cgroups are removed afterwards', () => {
  const r = tsjail(['--cpu', '0.25', '--', 'sh', '-c', 'p=$(grep -E ":cpu(,|:)" /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/cpu$p/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup$(grep "^0::" /proc/self/cgroup | cut -d: -f3)/cpu.max']);
  assert.match(r.stdout, /^(25000|25000 100000)\n$/);
  assert.deepEqual(leftovers(r.pid), []);
  // Nor is anything left when the run is refused after the limits were read.
  const refused = tsjail(['--memory', '64M', '--late', '--no-proc', '--', 'true']);
  assert.match(refused.stderr, /--late needs \/proc/);
  assert.deepEqual(leftovers(refused.pid), []);
  assert.match(tsjail(['--memory', 'lots', '--', 'true']).stderr, /bad size 'lots'/);
});
