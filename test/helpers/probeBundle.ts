// An OCI bundle that runs the escape probe from host binaries under a given seccomp profile:
// the container tests (interop, outputs) run it with runc or crun.
import { execFileSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatJson } from '../../src/formats/json';
import { runContainer, type ContainerRuntime } from '../../scripts/run-container';

/** `run(args)` starts `/probe ARGS...` in a fresh container of the bundle. */
export function probeBundle(probe: string, seccomp: object, runtime: ContainerRuntime = 'runc'): (args: readonly string[]) => SpawnSyncReturns<string> {
  const bundle = mkdtempSync(join(tmpdir(), `tsjail-${runtime}-`));
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['usr', 'lib', 'lib64', 'bin', 'proc', 'dev']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'probe'), '');
  config.root = { path: 'rootfs', readonly: true };
  config.process.terminal = false;
  config.mounts.push(...['/usr', '/lib', '/lib64', '/bin'].map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro'] })),
    { destination: '/probe', type: 'bind', source: probe, options: ['bind', 'ro'] });
  config.linux.seccomp = seccomp;
  let runs = 0;
  return (args) => {
    config.process.args = ['/probe', ...args];
    writeFileSync(join(bundle, 'config.json'), formatJson(config, 0));
    return runContainer(runtime, bundle, `tsjail-${process.pid}-${runs++}`);
  };
}
