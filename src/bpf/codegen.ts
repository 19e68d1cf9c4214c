// Policy → program DAG (DESIGN §3): `ld arch`, one section per AUDIT_ARCH, `ld nr`, a
// balanced `jge` tree over syscall-number ranges, and at the leaves a `ret` or an argument
// ladder. Nothing reads args before the number is decided, so the kernel can cache allows.
import type { Abi } from '../arch/abi';
import type { ResolvedCondition } from '../policy/condition';
import type { AbiPolicy, ChainLink } from '../policy/resolve';
import { NodeFactory, type JumpOp, type Node } from './dag';
import { decisionKey, sectionRanges, type Decision, type SyscallRange } from './ranges';
import { argWordOffset, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR } from './seccomp';

const WORD = 0xffffffff;

/** What the accumulator holds: a word of seccomp_data, possibly masked. */
type AccState = string | null;
const accKey = (offset: number, mask: number): string => `${offset}&${mask >>> 0}`;

type Cont = (acc: AccState) => Node;

function memo(f: Cont): Cont {
  const cache = new Map<AccState, Node>();
  return (acc) => {
    let n = cache.get(acc);
    if (!n) { n = f(acc); cache.set(acc, n); }
    return n;
  };
}

/** Builds the argument ladders of one ABI. */
class ArgumentCodegen {
  constructor(private readonly f: NodeFactory, private readonly abi: Abi) {}

  /** A test of one 32-bit word (masked when mask ≠ all ones) against k. */
  private wordTest(acc: AccState, offset: number, mask: number, op: JumpOp, k: number, t: Cont, e: Cont): Node {
    const want = accKey(offset, mask);
    const here = want;
    const test = this.f.jump(op, k, t(here), e(here));
    if (acc === want) return test;
    const masked = mask >>> 0 === WORD ? test : this.f.and(mask, test);
    return this.f.load(offset, masked);
  }

  /** (word & mask) == value, with the cheapest instruction for the mask. */
  private maskedWordEq(acc: AccState, offset: number, wordMask: number, mask: number, value: number, t: Cont, e: Cont): Node {
    mask >>>= 0; value >>>= 0;
    if (mask === 0) return value === 0 ? t(acc) : e(acc);
    if (mask === wordMask >>> 0) return this.wordTest(acc, offset, wordMask, 'jeq', value, t, e);
    if (value === 0) return this.wordTest(acc, offset, WORD, 'jset', mask, e, t);
    if (value === mask && (mask & (mask - 1)) === 0) return this.wordTest(acc, offset, WORD, 'jset', mask, t, e);
    return this.wordTest(acc, offset, mask, 'jeq', value, t, e);
  }

  condition(c: ResolvedCondition, acc: AccState, t: Cont, e: Cont): Node {
    const lo = argWordOffset(c.argIndex, 'lo', this.abi.endian);
    const hi = argWordOffset(c.argIndex, 'hi', this.abi.endian);
    const loMask = c.width === 16 ? 0xffff : WORD;
    const vl = Number(c.value & 0xffffffffn);
    const vh = Number(c.value >> 32n);
    const wide = c.width === 64;
    t = memo(t); e = memo(e);
    switch (c.op) {
      case 'eq':
        return this.wordTest(acc, lo, loMask, 'jeq', vl, wide ? (a) => this.wordTest(a, hi, WORD, 'jeq', vh, t, e) : t, e);
      case 'ne':
        return this.condition({ ...c, op: 'eq' }, acc, e, t);
      case 'masked_eq': {
        const ml = Number(c.mask & 0xffffffffn);
        const mh = Number(c.mask >> 32n);
        const high: Cont = wide ? (a) => this.maskedWordEq(a, hi, WORD, mh, vh, t, e) : t;
        return this.maskedWordEq(acc, lo, loMask, ml, vl, high, e);
      }
      case 'gt': case 'ge': {
        const loOp: JumpOp = c.op === 'gt' ? 'jgt' : 'jge';
        if (!wide) return this.wordTest(acc, lo, loMask, loOp, vl, t, e);
        // ge with a zero low word only needs the high word.
        if (c.op === 'ge' && vl === 0) return this.wordTest(acc, hi, WORD, 'jge', vh, t, e);
        // gt with an all-ones low word: the low word can never exceed it.
        if (c.op === 'gt' && vl === WORD) return this.wordTest(acc, hi, WORD, 'jgt', vh, t, e);
        const onEqualHigh: Cont = (a) => this.wordTest(a, hi, WORD, 'jeq', vh, (b) => this.wordTest(b, lo, WORD, loOp, vl, t, e), e);
        if (vh === WORD) return onEqualHigh(acc);
        return this.wordTest(acc, hi, WORD, 'jgt', vh, t, onEqualHigh);
      }
      case 'lt':
        return this.condition({ ...c, op: 'ge' }, acc, e, t);
      case 'le':
        return this.condition({ ...c, op: 'gt' }, acc, e, t);
    }
  }

  /** All conditions hold → t; any fails → e. */
  conjunction(conds: readonly ResolvedCondition[], i: number, acc: AccState, t: Cont, e: Cont): Node {
    if (i === conds.length) return t(acc);
    return this.condition(conds[i]!, acc, (a) => this.conjunction(conds, i + 1, a, t, e), e);
  }

  /** The first link whose conditions hold decides; none → the default. */
  ladder(links: readonly ChainLink[], defaultRet: number): Node {
    const at: Cont[] = [];
    for (let i = links.length; i >= 0; i--) {
      const link = links[i];
      at[i] = memo(link === undefined
        ? () => this.f.ret(defaultRet)
        : (acc) => this.conjunction(link.conditions, 0, acc, () => this.f.ret(link.ret), at[i + 1]!));
    }
    // Build from the last link up, in every accumulator state a link can be entered with, so
    // the construction never recurses through thousands of links.
    const states = new Set<AccState>([null, ...links.flatMap((l) => l.conditions.flatMap((c) => this.wordStates(c)))]);
    for (let i = links.length; i > 0; i--) for (const s of states) at[i]!(s);
    return at[0]!(null);
  }

  /** Every accumulator state the code for a condition can leave behind (a superset). */
  private wordStates(c: ResolvedCondition): AccState[] {
    const lo = argWordOffset(c.argIndex, 'lo', this.abi.endian);
    const hi = argWordOffset(c.argIndex, 'hi', this.abi.endian);
    const masks = [WORD, 0xffff, Number(c.mask & 0xffffffffn), Number(c.mask >> 32n)];
    return [lo, hi].flatMap((off) => masks.map((m) => accKey(off, m)));
  }
}

/** Decisions present in a list of ranges, weighted for a tree that keeps hot paths short. */
function rangeTree(f: NodeFactory, ranges: readonly SyscallRange[], leaf: (d: Decision) => Node): Node {
  const build = (lo: number, hi: number): Node => {
    if (lo === hi) return leaf(ranges[lo]!.decision);
    // A single-number island between two ranges of the same decision costs one jeq.
    if (hi - lo === 2 && ranges[lo + 1]!.lo === ranges[lo + 1]!.hi && decisionKey(ranges[lo]!.decision) === decisionKey(ranges[hi]!.decision)) {
      return f.jump('jeq', ranges[lo + 1]!.lo, leaf(ranges[lo + 1]!.decision), leaf(ranges[lo]!.decision));
    }
    const mid = Math.ceil((lo + hi + 1) / 2);
    return f.jump('jge', ranges[mid]!.lo, build(mid, hi), build(lo, mid - 1));
  };
  return build(0, ranges.length - 1);
}

export interface SectionInput {
  readonly auditArch: number;
  readonly parts: { x86_64?: AbiPolicy; x32?: AbiPolicy; single?: AbiPolicy };
}

/** Groups resolved ABIs by AUDIT_ARCH value, in target order. */
export function sections(policies: readonly AbiPolicy[]): SectionInput[] {
  const out: { auditArch: number; parts: { x86_64?: AbiPolicy; x32?: AbiPolicy; single?: AbiPolicy } }[] = [];
  for (const p of policies) {
    let s = out.find((x) => x.auditArch === p.abi.auditArch);
    if (!s) { s = { auditArch: p.abi.auditArch, parts: {} }; out.push(s); }
    if (p.abi.name === 'x86_64') s.parts.x86_64 = p;
    else if (p.abi.name === 'x32') s.parts.x32 = p;
    else s.parts.single = p;
  }
  return out;
}

export function generate(policies: readonly AbiPolicy[]): Node {
  const f = new NodeFactory();
  const badArchRet = policies[0]!.badArchRet;
  const secs = sections(policies);
  const leafCache = new Map<string, Node>();
  const sectionNodes = secs.map((s) => {
    const ranges = sectionRanges(s.parts, badArchRet);
    const leaf = (d: Decision): Node => {
      const key = decisionKey(d);
      let n = leafCache.get(key);
      if (!n) {
        n = d.kind === 'ret' ? f.ret(d.k) : new ArgumentCodegen(f, d.abi.abi).ladder(d.chain.links, d.defaultRet);
        leafCache.set(key, n);
      }
      return n;
    };
    return f.load(SECCOMP_DATA_NR, rangeTree(f, ranges, leaf));
  });
  let dispatch = f.ret(badArchRet);
  for (let i = secs.length - 1; i >= 0; i--) dispatch = f.jump('jeq', secs[i]!.auditArch, sectionNodes[i]!, dispatch);
  return f.load(SECCOMP_DATA_ARCH, dispatch);
}
