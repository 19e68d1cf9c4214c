// Resolves `-u USER` against the passwd and group files the jail will see (the new root's).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyError } from '../policy/errors';

export interface UserIds {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  readonly name?: string;
  readonly home?: string;
}

function readLines(root: string, file: string): string[][] {
  try {
    return readFileSync(join(root, file), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** A user name or numeric uid; its primary gid and supplementary groups follow it. */
export function resolveUser(spec: string, root = '/'): UserIds {
  const passwd = readLines(root, 'etc/passwd');
  const entry = /^\d+$/.test(spec) ? passwd.find((f) => f[2] === spec) : passwd.find((f) => f[0] === spec);
  if (!entry) {
    if (/^\d+$/.test(spec)) return { uid: Number(spec), gid: Number(spec), groups: [] };
    throw new PolicyError(`unknown user '${spec}'`, undefined, `no such entry in ${join(root, 'etc/passwd')}; give a name from there or a numeric uid`);
  }
  const [name, , uid, gid, , home] = entry;
  const groups = readLines(root, 'etc/group')
    .filter((f) => (f[3] ?? '').split(',').includes(name!))
    .map((f) => Number(f[2]));
  return { uid: Number(uid), gid: Number(gid), groups: [...new Set([Number(gid), ...groups])], name: name!, ...(home ? { home } : {}) };
}

/** A group name or numeric gid. */
export function resolveGroup(spec: string, root = '/'): number {
  if (/^\d+$/.test(spec)) return Number(spec);
  const entry = readLines(root, 'etc/group').find((f) => f[0] === spec);
  if (!entry) throw new PolicyError(`unknown group '${spec}'`, undefined, `no such entry in ${join(root, 'etc/group')}`);
  return Number(entry[2]);
}
