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

export function formatWarning(w: Warning): string {
  const where = describeLocation(w.location);
  return `${where ? `${where}: ` : ''}warning: ${w.message}`;
}
