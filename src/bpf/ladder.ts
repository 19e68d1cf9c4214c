// Argument ladders: the code that decides one syscall from its arguments. Links are tried in
// precedence order; the first whose conditions all hold returns its action.
//
// Construction follows each path with what it knows: which word the accumulator holds (so a
// word is loaded once per path) and the range each argument word is known to lie in after the
// tests so far. A test whose outcome is already known is not emitted, so the program carries
// no tautologies: after `hi > 0` fails, `hi == 0` is known and never tested again.
import type { Abi } from '../arch/abi';
import type { ResolvedCondition } from '../policy/condition';
import type { ChainLink } from '../policy/resolve';
import type { JumpOp, Node, NodeFactory } from './dag';
import { argWordOffset } from '../kernel/seccomp';

const WORD = 0xffffffff;

interface PathState {
  /** The word in the accumulator: `offset&mask`, or null. */
  readonly acc: string | null;
  /** Known [min, max] of whole (unmasked) words, by offset. */
  readonly ranges: ReadonlyMap<number, readonly [number, number]>;
  /** `ranges` as text, and the whole state's: equal keys, equal states (made with the state: most are looked up). */
  readonly rangesKey: string;
  readonly key: string;
}

function pathState(acc: string | null, ranges: ReadonlyMap<number, readonly [number, number]>, rangesKey?: string): PathState {
  const known = rangesKey ?? [...ranges].sort((a, b) => a[0] - b[0]).map(([o, [lo, hi]]) => `${o}:${lo}-${hi}`).join(',');
  return { acc, ranges, rangesKey: known, key: `${acc}|${known}` };
}

const INITIAL: PathState = pathState(null, new Map());
const accKey = (offset: number, mask: number): string => `${offset}&${mask >>> 0}`;
const stateKey = (s: PathState): string => s.key;

function withRange(s: PathState, offset: number, lo: number, hi: number): PathState {
  const ranges = new Map(s.ranges);
  ranges.set(offset, [lo, hi]);
  return pathState(s.acc, ranges);
}

type Cont = (s: PathState) => Node;

function memo(f: Cont): Cont {
  const cache = new Map<string, Node>();
  return (s) => {
    const key = stateKey(s);
    let n = cache.get(key);
    if (!n) { n = f(s); cache.set(key, n); }
    return n;
  };
}

/** What a test tells about a word in [lo, hi]: decided, or the ranges on each branch. */
function refine(op: JumpOp, k: number, lo: number, hi: number):
  { known: boolean } | { onTrue: [number, number]; onFalse: [number, number] } {
  switch (op) {
    case 'jeq':
      if (k < lo || k > hi) return { known: false };
      if (lo === hi) return { known: true };
      return { onTrue: [k, k], onFalse: k === lo ? [lo + 1, hi] : k === hi ? [lo, hi - 1] : [lo, hi] };
    case 'jgt':
      if (lo > k) return { known: true };
      if (hi <= k) return { known: false };
      return { onTrue: [k + 1, hi], onFalse: [lo, k] };
    case 'jge':
      if (lo >= k) return { known: true };
      if (hi < k) return { known: false };
      return { onTrue: [k, hi], onFalse: [lo, k - 1] };
    case 'jset':
      if (lo === hi) return { known: ((lo & k) >>> 0) !== 0 };
      return { onTrue: [lo, hi], onFalse: [lo, hi] };
  }
}

/** Path states kept per link before facts are forgotten, to bound construction. */
const MAX_STATES_PER_LINK = 32;

export class LadderBuilder {
  constructor(private readonly f: NodeFactory, private readonly abi: Abi) {}

  /** A test of one 32-bit word (masked when mask ≠ all ones) against k. */
  private wordTest(s: PathState, offset: number, mask: number, op: JumpOp, k: number, t: Cont, e: Cont): Node {
    const whole = mask >>> 0 === WORD;
    let onTrue = s;
    let onFalse = s;
    if (whole) {
      const [lo, hi] = s.ranges.get(offset) ?? [0, WORD];
      const r = refine(op, k >>> 0, lo, hi);
      if ('known' in r) return r.known ? t(s) : e(s);
      onTrue = withRange(s, offset, ...r.onTrue);
      onFalse = withRange(s, offset, ...r.onFalse);
    }
    const want = accKey(offset, mask);
    const test = this.f.jump(op, k, t(pathState(want, onTrue.ranges, onTrue.rangesKey)), e(pathState(want, onFalse.ranges, onFalse.rangesKey)));
    if (s.acc === want) return test;
    return this.f.load(offset, whole ? test : this.f.and(mask, test));
  }

  /** (word & mask) == value, with the cheapest instruction for the mask. */
  private maskedWordEq(s: PathState, offset: number, wordMask: number, mask: number, value: number, t: Cont, e: Cont): Node {
    mask >>>= 0; value >>>= 0;
    if (mask === 0) return value === 0 ? t(s) : e(s);
    if (mask === wordMask >>> 0) return this.wordTest(s, offset, wordMask, 'jeq', value, t, e);
    if (value === 0) return this.wordTest(s, offset, WORD, 'jset', mask, e, t);
    if (value === mask && (mask & (mask - 1)) === 0) return this.wordTest(s, offset, WORD, 'jset', mask, t, e);
    return this.wordTest(s, offset, mask, 'jeq', value, t, e);
  }

  private condition(c: ResolvedCondition, s: PathState, t: Cont, e: Cont): Node {
    const lo = argWordOffset(c.argIndex, 'lo', this.abi.endian);
    const hi = argWordOffset(c.argIndex, 'hi', this.abi.endian);
    const loMask = c.width === 16 ? 0xffff : WORD;
    const vl = Number(c.value & 0xffffffffn);
    const vh = Number(c.value >> 32n);
    const wide = c.width === 64;
    t = memo(t); e = memo(e);
    switch (c.op) {
      case 'eq':
        return this.wordTest(s, lo, loMask, 'jeq', vl, wide ? (a) => this.wordTest(a, hi, WORD, 'jeq', vh, t, e) : t, e);
      case 'ne':
        return this.condition({ ...c, op: 'eq' }, s, e, t);
      case 'masked_eq': {
        const ml = Number(c.mask & 0xffffffffn);
        const mh = Number(c.mask >> 32n);
        const high: Cont = wide ? (a) => this.maskedWordEq(a, hi, WORD, mh, vh, t, e) : t;
        return this.maskedWordEq(s, lo, loMask, ml, vl, high, e);
      }
      case 'gt': case 'ge': {
        const loOp: JumpOp = c.op === 'gt' ? 'jgt' : 'jge';
        if (!wide) return this.wordTest(s, lo, loMask, loOp, vl, t, e);
        // A zero low word of a >= bound (or all-ones of a > bound) leaves only the high word.
        if (c.op === 'ge' && vl === 0) return this.wordTest(s, hi, WORD, 'jge', vh, t, e);
        if (c.op === 'gt' && vl === WORD) return this.wordTest(s, hi, WORD, 'jgt', vh, t, e);
        // Decide on the high word; only an equal high word needs the low word.
        const onEqualHigh: Cont = (a) => this.wordTest(a, hi, WORD, 'jeq', vh, (b) => this.wordTest(b, lo, WORD, loOp, vl, t, e), e);
        return this.wordTest(s, hi, WORD, 'jgt', vh, t, onEqualHigh);
      }
      case 'lt':
        return this.condition({ ...c, op: 'ge' }, s, e, t);
      case 'le':
        return this.condition({ ...c, op: 'gt' }, s, e, t);
    }
  }

  private conjunction(conds: readonly ResolvedCondition[], i: number, s: PathState, t: Cont, e: Cont): Node {
    if (i === conds.length) return t(s);
    return this.condition(conds[i]!, s, (a) => this.conjunction(conds, i + 1, a, t, e), e);
  }

  /** The first link whose conditions hold decides; none → the default. */
  ladder(links: readonly ChainLink[], defaultRet: number): Node {
    // Forward: the path states each link can be entered with (so the backward build below
    // never recurses through later links).
    const entry: Map<string, PathState>[] = [new Map([[stateKey(INITIAL), INITIAL]])];
    const scratch = this.f.ret(0);
    const forget = (s: PathState): PathState => pathState(s.acc, new Map(), '');
    for (let i = 0; i < links.length; i++) {
      const next = new Map<string, PathState>();
      for (const s of entry[i]!.values()) {
        this.conjunction(links[i]!.conditions, 0, s, () => scratch, (x) => { next.set(stateKey(x), x); return scratch; });
      }
      const bounded = next.size > MAX_STATES_PER_LINK ? new Map([...next.values()].map((x) => [stateKey(forget(x)), forget(x)])) : next;
      entry.push(bounded);
    }
    const enter = (i: number, s: PathState): PathState => (entry[i]!.has(stateKey(s)) ? s : forget(s));
    // Backward: build each link in every state it can be entered with.
    const built: Map<string, Node>[] = links.map(() => new Map());
    const at = (i: number, s: PathState): Node => {
      if (i === links.length) return this.f.ret(defaultRet);
      const key = stateKey(enter(i, s));
      const n = built[i]!.get(key);
      if (!n) throw new Error(`internal error: ladder link ${i} entered in an unexpected state ${key}`);
      return n;
    };
    for (let i = links.length - 1; i >= 0; i--) {
      const link = links[i]!;
      for (const [key, s] of entry[i]!) {
        built[i]!.set(key, this.conjunction(link.conditions, 0, s, () => this.f.ret(link.ret), (x) => at(i + 1, x)));
      }
    }
    return at(0, INITIAL);
  }
}
