// loadFilter(): no_new_privs and a seccomp filter into the calling process, what libseccomp's
// seccomp_load() and syscallz's Context::load() do. With threads: 'all' (the default) every
// thread of the process gets it at once (SECCOMP_FILTER_FLAG_TSYNC): Node's worker threads too.
import { endianness, constants as osConstants } from 'node:os';
import { JailError } from './errors';
import { loadFilterHere, STEPS } from './helper';
import type { Policy } from '../policy/model';

export interface LoadFilterOptions {
  /** 'all': every thread of the process (TSYNC); 'current': the calling thread alone. */
  readonly threads?: 'all' | 'current';
}

const STEP_TSYNC = 103;

const errnoName = (n: number): string => Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

/** Loads a policy (compiled for this host) or a compiled filter's bytes; a failure is a JailError and nothing is loaded. */
export function loadFilter(policyOrFilter: Policy | Uint8Array, options: LoadFilterOptions = {}): void {
  const threads = options.threads ?? 'all';
  if (threads !== 'all' && threads !== 'current') throw new JailError(`loadFilter: threads must be 'all' or 'current', not ${JSON.stringify(threads)}`);
  let bytes: Uint8Array;
  if (policyOrFilter instanceof Uint8Array) {
    const { decodeProgram } = require('../kernel/instruction') as typeof import('../kernel/instruction');
    const { verifyProgram } = require('../bpf/verify') as typeof import('../bpf/verify');
    if (policyOrFilter.length % 8) throw new JailError(`loadFilter: a filter is whole 8-byte instructions, not ${policyOrFilter.length} bytes`);
    const problems = verifyProgram(decodeProgram(policyOrFilter, endianness() === 'LE' ? 'little' : 'big'));
    if (problems.length) throw new JailError(`loadFilter: the kernel would refuse this filter: ${problems.join('; ')}`);
    bytes = policyOrFilter;
  } else if (typeof policyOrFilter === 'object' && policyOrFilter !== null && Array.isArray((policyOrFilter as Policy).rules)) {
    const { compileProgram } = require('../bpf/compile') as typeof import('../bpf/compile');
    bytes = compileProgram(policyOrFilter).bytes;
  } else {
    throw new JailError('loadFilter: expected a policy (definePolicy) or a compiled filter (Uint8Array)');
  }
  const failed = loadFilterHere(bytes, threads === 'all');
  if (!failed) return;
  if (failed.step === STEP_TSYNC) {
    throw new JailError(`loadFilter: thread ${failed.errno} of this process cannot take the filter (it has a seccomp filter of its own that this thread does not share): no filter was loaded; load filters before starting threads, or in that thread with threads: 'current'`);
  }
  throw new JailError(`loadFilter: cannot ${STEPS[failed.step] ?? `step ${failed.step}`}: ${errnoName(failed.errno)}`);
}
