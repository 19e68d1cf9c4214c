// Builds and runs test/helpers/seccomp-probe.c: loads a filter in a child and makes real calls.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/upstream';

let built: string | undefined;

export function buildProbe(): string {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-probe-'));
  const out = join(dir, 'seccomp-probe');
  execFileSync('cc', ['-O2', '-Wall', '-o', out, join(REPO_ROOT, 'test/helpers/seccomp-probe.c')], { stdio: 'inherit' });
  built = out;
  return out;
}

export interface ProbeCall { abi: 'native' | 'i386' | 'x32'; nr: number; args?: readonly bigint[] }

/** One line per call: "ret=R errno=E", "signal=N" or "exit=N". */
export function runProbe(filter: Uint8Array, calls: readonly ProbeCall[]): string[] {
  const probe = buildProbe();
  const dir = mkdtempSync(join(tmpdir(), 'tsjail-filter-'));
  const file = join(dir, 'filter.bpf');
  writeFileSync(file, filter);
  const specs = calls.map((c) => [c.abi, c.nr, ...Array.from({ length: 6 }, (_, i) => BigInt.asIntN(64, c.args?.[i] ?? 0n))].join(':'));
  const r = spawnSync(probe, [file, ...specs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}
