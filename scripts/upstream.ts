// Where the repository and the upstream data (../shared/upstream beside the checkout) live.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root, from dist/scripts/ or scripts/. */
export const REPO_ROOT = resolve(__dirname, __dirname.includes(`${'dist'}`) ? '../..' : '..');

export const UPSTREAM_DIR = process.env.TSJAIL_UPSTREAM ?? resolve(REPO_ROOT, '../shared/upstream');

export function upstreamPath(...parts: string[]): string {
  return join(UPSTREAM_DIR, ...parts);
}

export function hasUpstream(): boolean {
  return existsSync(upstreamPath('libseccomp', 'syscalls.csv'));
}
