// Exact differences between two seccomp programs: both are walked together over symbolic
// seccomp_data (each 32-bit word constrained by the tests on the path), and every pair of
// returns that a real input reaches with different values is reported. Nothing is sampled:
// a path is followed only if some 32-bit value satisfies all of its constraints.
import { BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, type Instruction } from '../kernel/instruction';

/** What a path knows about one 32-bit word of seccomp_data. */
export interface WordConstraint {
  readonly lo: number;
  readonly hi: number;
  /** (word & m) == v for each entry. */
  readonly masked: readonly (readonly [number, number])[];
  /** (word & m) != v for each entry. */
  readonly notMasked: readonly (readonly [number, number])[];
  /** lo <= (word & m) <= hi for each [m, lo, hi]: an ordered compare after an `and`. */
  readonly maskedRanges?: readonly (readonly [number, number, number])[];
}

const FULL: WordConstraint = { lo: 0, hi: 0xffffffff, masked: [], notMasked: [] };

type Constraints = ReadonlyMap<number, WordConstraint>;

/**
 * Some value satisfies `c`, or undefined when none does. A depth-first search over the bits:
 * first those under partial masks (so that conflicts between mask constraints show after a
 * few bits, not after all 32), then the rest from high to low; every node is pruned by the
 * interval and by each constraint whose bits are all decided.
 */
export function satisfiable(c: WordConstraint): number | undefined {
  if (c.lo > c.hi) return undefined;
  let partial = 0;
  const ranges = c.maskedRanges ?? [];
  for (const [m] of [...c.masked, ...c.notMasked, ...ranges]) if (m >>> 0 !== 0xffffffff) partial = (partial | m) >>> 0;
  const order: number[] = [];
  for (let b = 31; b >= 0; b--) if (partial & (2 ** b)) order.push(b);
  for (let b = 31; b >= 0; b--) if (!(partial & (2 ** b))) order.push(b);
  const search = (i: number, decided: number, value: number): number | undefined => {
    const free = (~decided) >>> 0;
    const min = value;
    const max = (value | free) >>> 0;
    if (max < c.lo || min > c.hi) return undefined;
    for (const [m, v] of c.masked) if (((value & m & decided) >>> 0) !== ((v & m & decided) >>> 0)) return undefined;
    for (const [m, v] of c.notMasked) if (((m & free) >>> 0) === 0 && ((value & m) >>> 0) === (v >>> 0)) return undefined;
    for (const [m, lo, hi] of ranges) if (((max & m) >>> 0) < lo || ((min & m) >>> 0) > hi) return undefined;
    if (i === order.length) return value >= c.lo && value <= c.hi ? value : undefined;
    const bit = 2 ** order[i]!;
    const d = (decided | bit) >>> 0;
    return search(i + 1, d, value) ?? search(i + 1, d, (value | bit) >>> 0);
  };
  return search(0, 0, 0);
}

/** `w` satisfies `c`. */
function holds(c: WordConstraint, w: number): boolean {
  return w >= c.lo && w <= c.hi && c.masked.every(([m, v]) => ((w & m) >>> 0) === v >>> 0) && c.notMasked.every(([m, v]) => ((w & m) >>> 0) !== v >>> 0)
    && (c.maskedRanges ?? []).every(([m, lo, hi]) => ((w & m) >>> 0) >= lo && ((w & m) >>> 0) <= hi);
}

function refine(cs: Constraints, offset: number, f: (w: WordConstraint) => WordConstraint): Constraints | undefined {
  const next = f(cs.get(offset) ?? FULL);
  // A word tested for equality has one candidate, and most others hold at an end of their
  // interval: the search is for the rest.
  const exact = next.masked.find(([m]) => m >>> 0 === 0xffffffff);
  if (exact ? !holds(next, exact[1] >>> 0) : !holds(next, next.lo) && !holds(next, next.hi) && satisfiable(next) === undefined) return undefined;
  const out = new Map(cs);
  out.set(offset, next);
  return out;
}

export interface Difference {
  /** Constraints on seccomp_data words (by byte offset) under which the two differ. */
  readonly constraints: ReadonlyMap<number, WordConstraint>;
  readonly a: number;
  readonly b: number;
}

interface Acc { readonly offset: number; readonly mask: number }

/** Runs one program symbolically from pc 0 under `cs`; calls `leaf` for every reachable return. */
function walk(program: readonly Instruction[], cs: Constraints, leaf: (ret: number, cs: Constraints) => void): void {
  const step = (pc: number, acc: Acc | undefined, cs: Constraints): void => {
    for (;;) {
      const { code, k, jt, jf } = program[pc]!;
      if (code === (BPF_RET | BPF_K)) { leaf(k >>> 0, cs); return; }
      if (code === (BPF_LD | BPF_W | BPF_ABS)) { acc = { offset: k, mask: 0xffffffff }; pc++; continue; }
      if (code === (BPF_ALU | BPF_AND | BPF_K)) { acc = { offset: acc!.offset, mask: (acc!.mask & k) >>> 0 }; pc++; continue; }
      if (code === (BPF_JMP | BPF_JA)) { pc += 1 + k; continue; }
      if (!acc) throw new Error(`pc ${pc}: test before load`);
      const a = acc;
      const whole = a.mask === 0xffffffff;
      let onTrue: ((w: WordConstraint) => WordConstraint) | undefined;
      let onFalse: ((w: WordConstraint) => WordConstraint) | undefined;
      const kk = k >>> 0;
      switch (code) {
        case BPF_JMP | BPF_JEQ | BPF_K:
          onTrue = (w) => ({ ...w, masked: [...w.masked, [a.mask, kk & a.mask]] });
          onFalse = (w) => ({ ...w, notMasked: [...w.notMasked, [a.mask, kk & a.mask]] });
          if ((kk & ~a.mask) >>> 0) onTrue = undefined; // can never be equal
          break;
        case BPF_JMP | BPF_JGT | BPF_K:
        case BPF_JMP | BPF_JGE | BPF_K: {
          const bound = code === (BPF_JMP | BPF_JGT | BPF_K) ? kk + 1 : kk;
          const within = (w: WordConstraint, lo: number, hi: number): WordConstraint => ({ ...w, maskedRanges: [...(w.maskedRanges ?? []), [a.mask, lo, hi]] });
          onTrue = bound > 0xffffffff ? undefined : whole ? (w) => ({ ...w, lo: Math.max(w.lo, bound) }) : (w) => within(w, bound, 0xffffffff);
          onFalse = bound === 0 ? undefined : whole ? (w) => ({ ...w, hi: Math.min(w.hi, bound - 1) }) : (w) => within(w, 0, bound - 1);
          break;
        }
        case BPF_JMP | BPF_JSET | BPF_K: {
          const m = (kk & a.mask) >>> 0;
          onTrue = m === 0 ? undefined : (w) => ({ ...w, notMasked: [...w.notMasked, [m, 0]] });
          onFalse = (w) => ({ ...w, masked: [...w.masked, [m, 0]] });
          break;
        }
        default: throw new Error(`pc ${pc}: opcode 0x${code.toString(16)} is outside what diff follows`);
      }
      const t = onTrue && refine(cs, a.offset, onTrue);
      const f = onFalse && refine(cs, a.offset, onFalse);
      if (t && f) step(pc + 1 + jt, a, t);
      if (t && !f) { pc += 1 + jt; cs = t; continue; }
      if (f) { pc += 1 + jf; cs = f; continue; }
      return;
    }
  };
  step(0, undefined, cs);
}

/** Every region of inputs on which the two programs return different values. */
export function diffPrograms(a: readonly Instruction[], b: readonly Instruction[], initial: Constraints = new Map()): Difference[] {
  const out: Difference[] = [];
  walk(a, initial, (retA, cs) => walk(b, cs, (retB, cs2) => { if (retA !== retB) out.push({ constraints: cs2, a: retA, b: retB }); }));
  return out;
}

