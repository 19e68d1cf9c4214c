// A raw seccomp filter from anywhere (libseccomp's seccomp_export_bpf, a hand-written one,
// tsjail's --format raw): `struct sock_filter[]` in the target's byte order. It is taken as it is
// and checked as the kernel checks it (bpf/verify.ts), or refused with the place and the reason.
import { readFileSync } from 'node:fs';
import type { Endian } from '../arch/abi';
import { verifyProgram } from '../bpf/verify';
import { BPF_MAXINSNS, SIZEOF_SOCK_FILTER, decodeProgram, type Instruction } from '../kernel/instruction';
import { PolicyError } from '../policy/errors';

export interface RawFilter {
  readonly program: readonly Instruction[];
  readonly bytes: Uint8Array;
  readonly endian: Endian;
}

/** A file named *.bpf is a raw filter wherever a policy is asked for. */
export const isRawFilterPath = (path: string): boolean => /\.bpf$/i.test(path);

const HINT = 'a raw filter is struct sock_filter[] (8 bytes each), as seccomp_export_bpf or tsjail compile --format raw write it';

/**
 * The program in `bytes`, refused unless the kernel would load it. With `lenient`, only what
 * keeps it from being a program at all is refused (disasm lists what the kernel would refuse).
 */
export function parseRawFilter(bytes: Uint8Array, file: string, endian: Endian, lenient = false): RawFilter {
  const loc = { file, line: 0 };
  if (bytes.length === 0) throw new PolicyError('empty: a seccomp filter has 1 to 4096 instructions', loc, HINT);
  if (bytes.length % SIZEOF_SOCK_FILTER !== 0) {
    throw new PolicyError(`${bytes.length} bytes is not a whole number of instructions (${Math.floor(bytes.length / SIZEOF_SOCK_FILTER)} and ${bytes.length % SIZEOF_SOCK_FILTER} bytes over)`, loc, HINT);
  }
  const count = bytes.length / SIZEOF_SOCK_FILTER;
  if (count > BPF_MAXINSNS) throw new PolicyError(`${count} instructions, over the kernel's limit of ${BPF_MAXINSNS}`, loc, 'the kernel refuses longer filters with EINVAL');
  const program = decodeProgram(bytes, endian);
  const problems = lenient ? [] : verifyProgram(program);
  if (problems.length) {
    throw new PolicyError(`${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, loc, 'the kernel would refuse this filter (EINVAL); tsjail disasm lists it');
  }
  return { program, bytes, endian };
}

export function readRawFilter(file: string, endian: Endian, lenient = false): RawFilter {
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(readFileSync(file)); } catch (e) {
    throw new PolicyError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file, line: 0 });
  }
  return parseRawFilter(bytes, file, endian, lenient);
}
