// Usage errors, shared by the subcommands: exit 2, a message naming the value, and a hint.
import { closestNames } from '../syscalls/suggest';

/** A mistake in the command line: exit 2. */
export class UsageError extends Error {}

/**
 * arg's error as a UsageError; an unknown option gets the closest known ones
 * (`--alow-net` → did you mean '--allow-net'?).
 */
export function usageErrorOf(e: unknown, spec: Readonly<Record<string, unknown>>): UsageError {
  const message = (e as Error).message;
  const unknown = /^unknown or unexpected option: (.+)$/.exec(message)?.[1];
  if (unknown === undefined) return new UsageError(message);
  const known = Object.keys(spec).filter((k) => (unknown.startsWith('--') ? k.startsWith('--') : !k.startsWith('--')));
  const close = closestNames(unknown, known);
  return new UsageError(`unknown option '${unknown}'${close.length ? ` — did you mean ${close.map((c) => `'${c}'`).join(' or ')}?` : ''}`);
}

/** The line after a usage error. */
export const helpHint = (command: string): string => `(tsjail ${command} --help lists the options)`;
