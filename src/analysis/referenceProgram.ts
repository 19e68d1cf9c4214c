// The reference program of a policy: its meaning (DESIGN §2, as the reference evaluator
// src/policy/evaluate.ts reads it) written out as classic BPF by a deliberately naive emitter
// that shares nothing with the optimizing compiler (no ranges, no ladder, no shared returns,
// no layout). Per arch a jeq; per syscall a jeq (found by binary search); per syscall its rules
// in resolution order, every argument word loaded and tested on its own. It is long, and is never loaded: it is
// the other side of `tsjail verify`'s exact walk (src/bpf/diff.ts).
import { X32_SYSCALL_BIT, type Abi } from '../arch/abi';
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W,
  jump, stmt, type Instruction,
} from '../kernel/instruction';
import { argWordOffset, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR } from '../kernel/seccomp';
import { resolveCondition, type ResolvedCondition } from '../policy/condition';
import { actionSeverity, type Policy } from '../policy/model';
import { newerSyscalls, NR_SKIP, type NewerSyscalls } from '../policy/newerSyscalls';
import { actionRet, checkSyscallNames } from '../policy/resolve';
import { syscallName, syscallsOf } from '../syscalls/table';

/** A place in the program, known once placed; only `ja` jumps to one, always forward. */
interface Label { at?: number }

/**
 * A minimal assembler: every conditional jump is `jcc K, 0, 1` followed by `ja T; ja F`, so
 * jt and jf never exceed 1 and every distance is a 32-bit `ja`, resolved at the end.
 */
class Emitter {
  private readonly items: ({ readonly ins: Instruction } | { readonly to: Label })[] = [];

  label(): Label { return {}; }
  place(l: Label): void { l.at = this.items.length; }
  ret(k: number): void { this.items.push({ ins: stmt(BPF_RET | BPF_K, k) }); }
  goto(to: Label): void { this.items.push({ to }); }

  /** if ((seccomp_data word at `offset`) & mask) OP k: goto t, else goto f. */
  test(offset: number, mask: number, op: number, k: number, t: Label, f: Label): void {
    this.items.push({ ins: stmt(BPF_LD | BPF_W | BPF_ABS, offset) });
    if (mask >>> 0 !== 0xffffffff) this.items.push({ ins: stmt(BPF_ALU | BPF_AND | BPF_K, mask) });
    this.items.push({ ins: jump(BPF_JMP | op | BPF_K, k, 0, 1) });
    this.goto(t);
    this.goto(f);
  }

  finish(): Instruction[] {
    return this.items.map((item, pc) => {
      if ('ins' in item) return item.ins;
      const at = item.to.at;
      if (at === undefined || at <= pc) throw new Error(`internal error: reference program label ${at} is not after pc ${pc}`);
      return stmt(BPF_JMP | BPF_JA, at - pc - 1);
    });
  }
}

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);

/** Jumps to t when the condition holds on the call's argument, else to f. */
function emitCondition(e: Emitter, c: ResolvedCondition, abi: Abi, t: Label, f: Label): void {
  const lo = argWordOffset(c.argIndex, 'lo', abi.endian);
  const hi = argWordOffset(c.argIndex, 'hi', abi.endian);
  const lowBits = lo32((1n << BigInt(Math.min(c.width, 32))) - 1n); // the low word's bits that count
  switch (c.op) {
    case 'ne': return emitCondition(e, { ...c, op: 'eq' }, abi, f, t);
    case 'lt': return emitCondition(e, { ...c, op: 'ge' }, abi, f, t);
    case 'le': return emitCondition(e, { ...c, op: 'gt' }, abi, f, t);
    case 'eq': case 'masked_eq': {
      // (x & mask) == value, word by word (for eq the mask is all ones of the width).
      if (c.width === 64) {
        const low = e.label();
        e.test(hi, hi32(c.mask), BPF_JEQ, hi32(c.value), low, f);
        e.place(low);
      }
      e.test(lo, lo32(c.mask) & lowBits, BPF_JEQ, lo32(c.value), t, f);
      return;
    }
    case 'gt': case 'ge': {
      const op = c.op === 'gt' ? BPF_JGT : BPF_JGE;
      if (c.width === 64) {
        // Unsigned 64-bit order: the high words decide unless they are equal.
        const hiEqual = e.label();
        const low = e.label();
        e.test(hi, 0xffffffff, BPF_JGT, hi32(c.value), t, hiEqual);
        e.place(hiEqual);
        e.test(hi, 0xffffffff, BPF_JEQ, hi32(c.value), low, f);
        e.place(low);
        e.test(lo, 0xffffffff, op, lo32(c.value), t, f);
      } else if (c.width === 32) {
        e.test(lo, 0xffffffff, op, lo32(c.value), t, f);
      } else {
        // A 16-bit value: compared bit by bit from the top with jset alone, a route of its own
        // beside the compiler's `and 0xffff; jgt`.
        for (let b = c.width - 1; b >= 0; b--) {
          const next = e.label();
          const bit = 2 ** b;
          if (lo32(c.value) & bit) e.test(lo, 0xffffffff, BPF_JSET, bit, next, f);
          else e.test(lo, 0xffffffff, BPF_JSET, bit, t, next);
          e.place(next);
        }
        e.goto(c.op === 'ge' ? t : f); // equal
      }
      return;
    }
  }
}

/** One syscall on one ABI: every rule naming it, most restrictive first, earlier first on ties. */
function emitSyscall(e: Emitter, policy: Policy, abi: Abi, name: string, defaultRet: number): void {
  const links = policy.rules
    .map((rule, ruleIndex) => ({ rule, ruleIndex }))
    .filter(({ rule }) => rule.syscalls.includes(name))
    .sort((a, b) => actionSeverity(a.rule.action) - actionSeverity(b.rule.action) || a.ruleIndex - b.ruleIndex);
  for (const { rule } of links) {
    const outcomes = rule.conditions.map((cond) => resolveCondition(abi, name, cond, rule.source));
    if (outcomes.some((o) => o.kind === 'never')) continue;
    const nextRule = e.label();
    for (const o of outcomes) {
      if (o.kind !== 'test') continue;
      const holds = e.label();
      emitCondition(e, o.condition, abi, holds, nextRule);
      e.place(holds);
    }
    e.ret(actionRet(rule.action, abi, rule.source));
    e.place(nextRule);
  }
  e.ret(defaultRet);
}

/** Numbers of the ENOSYS region return ENOSYS, tested one by one before the dispatch; -1 keeps the default. */
function emitNewer(e: Emitter, newer: NewerSyscalls, defaultRet: number): void {
  for (const nr of newer.also) {
    const hit = e.label();
    const miss = e.label();
    e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JEQ, nr, hit, miss);
    e.place(hit);
    e.ret(newer.ret);
    e.place(miss);
  }
  const above = e.label();
  const known = e.label();
  const skip = e.label();
  const enosys = e.label();
  e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JGT, newer.above, above, known);
  e.place(above);
  e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JEQ, NR_SKIP, skip, enosys);
  e.place(skip);
  e.ret(defaultRet);
  e.place(enosys);
  e.ret(newer.ret);
  e.place(known);
}

/**
 * The syscall-number dispatch of one ABI: a jeq per syscall some rule names, else the default.
 * The jeqs hang off a plain binary search on the number (a sorted list halved at its middle):
 * one long chain of jeqs would cost the exact walk a cubic time in the number of syscalls.
 */
function emitAbi(e: Emitter, policy: Policy, abi: Abi): void {
  const named = new Set(policy.rules.flatMap((r) => r.syscalls));
  const calls = syscallsOf(abi).filter(({ name, nr }) => named.has(name) && syscallName(abi, nr) === name);
  const defaultRet = actionRet(policy.defaultAction, abi);
  const newer = newerSyscalls(policy, abi);
  if (newer) emitNewer(e, newer, defaultRet);
  const blocks: { readonly label: Label; readonly name: string }[] = [];
  const search = (from: number, to: number): void => {
    if (to - from === 1) {
      const block = e.label();
      const other = e.label();
      e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JEQ, calls[from]!.nr, block, other);
      e.place(other);
      e.ret(defaultRet);
      blocks.push({ label: block, name: calls[from]!.name });
      return;
    }
    const mid = (from + to) >> 1;
    const high = e.label();
    const low = e.label();
    e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JGE, calls[mid]!.nr, high, low);
    e.place(low);
    search(from, mid);
    e.place(high);
    search(mid, to);
  };
  if (calls.length) search(0, calls.length); else e.ret(defaultRet);
  for (const { label, name } of blocks) {
    e.place(label);
    emitSyscall(e, policy, abi, name, defaultRet);
  }
}

/**
 * The reference program of `policy` on `abis` (its targets, in order). Which ABI a call takes
 * follows abiOfCall in src/policy/evaluate.ts: by seccomp_data.arch, and on AUDIT_ARCH_X86_64
 * by the x32 bit, except nr -1 (a tracer's skip), which goes to the first ABI of the arch.
 */
export function referenceProgram(policy: Policy, abis: readonly Abi[]): Instruction[] {
  checkSyscallNames(policy);
  const e = new Emitter();
  const badArch = actionRet(policy.badArchAction, abis[0]!);
  const arches = [...new Set(abis.map((a) => a.auditArch))];
  const sections = arches.map(() => e.label());
  arches.forEach((arch, i) => {
    const next = e.label();
    e.test(SECCOMP_DATA_ARCH, 0xffffffff, BPF_JEQ, arch, sections[i]!, next);
    e.place(next);
  });
  e.ret(badArch);
  arches.forEach((arch, i) => {
    e.place(sections[i]!);
    const candidates = abis.filter((a) => a.auditArch === arch);
    const x86_64 = candidates.find((a) => a.name === 'x86_64');
    const x32 = candidates.find((a) => a.name === 'x32');
    if (!x86_64 && !x32) { emitAbi(e, policy, candidates[0]!); return; }
    const skip = e.label();
    const numbered = e.label();
    const x32Part = e.label();
    const x86_64Part = e.label();
    e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JEQ, 0xffffffff, skip, numbered);
    e.place(skip);
    emitAbi(e, policy, candidates[0]!);
    e.place(numbered);
    e.test(SECCOMP_DATA_NR, 0xffffffff, BPF_JGE, X32_SYSCALL_BIT, x32Part, x86_64Part);
    for (const [part, abi] of [[x32Part, x32], [x86_64Part, x86_64]] as const) {
      e.place(part);
      if (abi) emitAbi(e, policy, abi); else e.ret(badArch);
    }
  });
  return e.finish();
}
