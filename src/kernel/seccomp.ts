// The seccomp side of the kernel ABI: return values and the `struct seccomp_data` layout.
import type { Endian } from '../arch/abi';

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; } */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_ARGS = 16;
export const SIZEOF_SECCOMP_DATA = 64;

export type Half = 'lo' | 'hi';

/** Offset of one 32-bit half of args[i]: the low word comes first on little-endian. */
export function argWordOffset(index: number, half: Half, endian: Endian): number {
  const base = SECCOMP_DATA_ARGS + 8 * index;
  return base + ((half === 'lo') === (endian === 'little') ? 0 : 4);
}

/** What a 32-bit load at `offset` of seccomp_data reads, for messages and the disassembler. */
export function describeDataOffset(offset: number, endian: Endian): string {
  if (offset === SECCOMP_DATA_NR) return 'nr';
  if (offset === SECCOMP_DATA_ARCH) return 'arch';
  if (offset === SECCOMP_DATA_IP || offset === SECCOMP_DATA_IP + 4) {
    const low = (offset === SECCOMP_DATA_IP) === (endian === 'little');
    return `ip.${low ? 'lo' : 'hi'}`;
  }
  if (offset >= SECCOMP_DATA_ARGS && offset < SIZEOF_SECCOMP_DATA) {
    const i = Math.floor((offset - SECCOMP_DATA_ARGS) / 8);
    const low = (offset % 8 === 0) === (endian === 'little');
    return `args[${i}].${low ? 'lo' : 'hi'}`;
  }
  return `[${offset}]`;
}

export interface SeccompData {
  readonly nr: number;
  readonly arch: number;
  readonly instructionPointer?: bigint;
  readonly args?: readonly bigint[];
}

/** Serializes seccomp_data in the ABI's byte order, as the kernel presents it to a filter. */
export function encodeSeccompData(d: SeccompData, endian: Endian): Uint8Array {
  const buf = new Uint8Array(SIZEOF_SECCOMP_DATA);
  const view = new DataView(buf.buffer);
  const le = endian === 'little';
  view.setUint32(SECCOMP_DATA_NR, d.nr >>> 0, le);
  view.setUint32(SECCOMP_DATA_ARCH, d.arch >>> 0, le);
  view.setBigUint64(SECCOMP_DATA_IP, BigInt.asUintN(64, d.instructionPointer ?? 0n), le);
  for (let i = 0; i < 6; i++) view.setBigUint64(SECCOMP_DATA_ARGS + 8 * i, BigInt.asUintN(64, d.args?.[i] ?? 0n), le);
  return buf;
}

/** A readable name for a return value: ALLOW, ERRNO(1), KILL_PROCESS... */
export function describeRet(k: number): string {
  const action = (k & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = k & SECCOMP_RET_DATA;
  switch (action) {
    case SECCOMP_RET_KILL_PROCESS: return 'KILL_PROCESS';
    case SECCOMP_RET_KILL_THREAD: return 'KILL_THREAD';
    case SECCOMP_RET_TRAP: return data ? `TRAP(${data})` : 'TRAP';
    case SECCOMP_RET_ERRNO: return `ERRNO(${data})`;
    case SECCOMP_RET_USER_NOTIF: return 'USER_NOTIF';
    case SECCOMP_RET_TRACE: return `TRACE(${data})`;
    case SECCOMP_RET_LOG: return 'LOG';
    case SECCOMP_RET_ALLOW: return 'ALLOW';
    default: return `0x${(k >>> 0).toString(16)}`;
  }
}
