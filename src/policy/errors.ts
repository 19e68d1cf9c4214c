// Errors a user can act on: a message, where it happened, and a hint. Never a stack trace.
import { describeLocation, type SourceLocation } from './model';

export class PolicyError extends Error {
  readonly location: SourceLocation | undefined;
  readonly hint: string | undefined;

  constructor(message: string, location?: SourceLocation, hint?: string) {
    const where = describeLocation(location);
    super(`${where ? `${where}: ` : ''}${message}${hint ? ` (${hint})` : ''}`);
    this.name = 'PolicyError';
    this.location = location;
    this.hint = hint;
  }
}

/** Non-fatal findings (shadowed rules, bypassable compares) collected while resolving. */
export interface Warning {
  readonly message: string;
  readonly location?: SourceLocation;
}

/** Warnings with repeats (the same place and message, e.g. once per ABI) removed. */
export function uniqueWarnings(warnings: readonly Warning[]): Warning[] {
  return [...new Map(warnings.map((w) => [`${w.location?.file}:${w.location?.line}:${w.message}`, w])).values()];
}

export function formatWarning(w: Warning): string {
  const where = describeLocation(w.location);
  return `${where ? `${where}: ` : ''}warning: ${w.message}`;
}
