// Runs an OCI bundle under runc or crun, for the runtime tests and the runtime-call measurement.
import { spawnSync, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process';

export type ContainerRuntime = 'runc' | 'crun';

/**
 * `RUNTIME run [FLAGS] --bundle DIR ID`. crun 1.8 refuses a hybrid cgroup host whose unified
 * hierarchy has controllers (this machine's has hugetlb): in a mount namespace of its own it gets
 * the v1 hierarchies only (as in test/bundle.test.ts).
 */
export function runContainer(runtime: ContainerRuntime, dir: string, id: string, flags: readonly string[] = []): SpawnSyncReturns<string> {
  const options: SpawnSyncOptionsWithStringEncoding = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] };
  if (runtime === 'runc') return spawnSync('runc', ['run', ...flags, '--bundle', dir, id], options);
  return spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec "$@"', 'sh', 'crun', 'run', ...flags, '--bundle', dir, id], options);
}
