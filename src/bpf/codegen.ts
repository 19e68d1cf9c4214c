// Policy → program DAG (DESIGN §3): `ld arch`, one section per AUDIT_ARCH, `ld nr`, a `jge`
// tree over syscall-number ranges (balanced, or shaped by syscall weights), and at the leaves
// a `ret` or an argument ladder. Nothing reads args before the number is decided, so the
// kernel can cache allows.
import type { AbiPolicy } from '../policy/resolve';
import { NodeFactory, type Node } from './dag';
import { LadderBuilder } from './ladder';
import { decisionKey, sameDecision, sectionRanges, type Decision, type SyscallRange } from './ranges';
import type { SyscallWeights } from '../policy/model';
import { weightsByNumber } from '../policy/weights';
import { weightedSplits } from './weightedTree';
import { SECCOMP_DATA_ARCH, SECCOMP_DATA_NR } from '../kernel/seccomp';

/** A range tested with one jge boundary, plus single numbers inside it decided apart (jeq). */
interface Segment {
  readonly lo: number;
  readonly hi: number;
  readonly decision: Decision;
  readonly exceptions: readonly { readonly nr: number; readonly decision: Decision }[];
}

/** Single numbers allowed inside one segment: each costs a jeq on the paths through it. */
const MAX_EXCEPTIONS = 2;

/**
 * Folds single-number islands into their neighbours: `A [n] A` becomes one range A with n as
 * an exception, one jeq instead of two jge boundaries.
 */
export function segments(ranges: readonly SyscallRange[]): Segment[] {
  // One pass with a stack: after each push, fold `A [n] A` at the top as long as one forms.
  const out: Segment[] = [];
  for (const r of ranges) {
    out.push({ lo: r.lo, hi: r.hi, decision: r.decision, exceptions: [] }); // not `...r`: a spread copies slowly here
    while (out.length >= 3) {
      const n = out.length;
      const a = out[n - 3]!, s = out[n - 2]!, b = out[n - 1]!;
      if (s.lo !== s.hi || s.exceptions.length || a.exceptions.length + b.exceptions.length + 1 > MAX_EXCEPTIONS || !sameDecision(a.decision, b.decision)) break;
      out.length = n - 3;
      out.push({ lo: a.lo, hi: b.hi, decision: a.decision, exceptions: [...a.exceptions, { nr: s.lo, decision: s.decision }, ...b.exceptions] });
    }
  }
  return out;
}

/** The calls of each segment: its own numbers' and its exceptions'. */
function segmentCounts(segs: readonly Segment[], weights: ReadonlyMap<number, number>): number[] {
  const counts = segs.map(() => 0);
  for (const [nr, count] of weights) {
    // The segment holding nr: the last whose lo ≤ nr (segments cover the number space in order).
    let a = 0, b = segs.length - 1;
    while (a < b) { const m = Math.ceil((a + b) / 2); if (segs[m]!.lo <= nr) a = m; else b = m - 1; }
    counts[a]! += count;
  }
  return counts;
}

/** A tree of jge over the leaves' first numbers; `split(lo, hi)` is the first leaf of the jge branch. */
function jgeTree(f: NodeFactory, firsts: readonly number[], leafNode: (i: number) => Node, split: (lo: number, hi: number) => number): Node {
  const build = (lo: number, hi: number): Node => {
    if (lo === hi) return leafNode(lo);
    const mid = split(lo, hi);
    return f.jump('jge', firsts[mid]!, build(mid, hi), build(lo, mid - 1));
  };
  return build(0, firsts.length - 1);
}

const exceptionsThen = (f: NodeFactory, exceptions: Segment['exceptions'], leaf: (d: Decision) => Node, rest: Node): Node =>
  exceptions.reduceRight((next, e) => f.jump('jeq', e.nr, leaf(e.decision), next), rest);

/**
 * The number tree of one section: each leaf checks its exceptions first. Balanced, or with
 * weights the tree with the fewest tests for that mix (weightedTree.ts), over the segments with
 * neighbours of the same code joined, each leaf's exceptions most frequent first.
 */
function rangeTree(f: NodeFactory, ranges: readonly SyscallRange[], leaf: (d: Decision) => Node, weights?: ReadonlyMap<number, number>): Node {
  const segs = segments(ranges);
  const counts = weights && segmentCounts(segs, weights);
  if (!counts?.some((c) => c > 0)) {
    return jgeTree(f, segs.map((s) => s.lo), (i) => exceptionsThen(f, segs[i]!.exceptions, leaf, leaf(segs[i]!.decision)), (lo, hi) => Math.ceil((lo + hi + 1) / 2));
  }
  const byWeight = (a: { nr: number }, b: { nr: number }): number => (weights!.get(b.nr) ?? 0) - (weights!.get(a.nr) ?? 0) || a.nr - b.nr;
  const leaves: { lo: number; node: Node; count: number }[] = [];
  segs.forEach((s, i) => {
    const node = exceptionsThen(f, [...s.exceptions].sort(byWeight), leaf, leaf(s.decision));
    const prev = leaves[leaves.length - 1];
    // Decisions that differ but compile alike (a balanced tree folds such siblings): one leaf.
    if (prev?.node === node) prev.count += counts[i]!;
    else leaves.push({ lo: s.lo, node, count: counts[i]! });
  });
  const split = weightedSplits(leaves.map((l) => l.count))!;
  return jgeTree(f, leaves.map((l) => l.lo), (i) => leaves[i]!.node, split);
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

/** The program's DAG; with weights (policy/weights.ts) its number trees favour that call mix. */
export function generate(policies: readonly AbiPolicy[], weights?: SyscallWeights): Node {
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
        n = d.kind === 'ret' ? f.ret(d.k) : new LadderBuilder(f, d.abi.abi).ladder(d.chain.links, d.defaultRet);
        leafCache.set(key, n);
      }
      return n;
    };
    const partAbis = [s.parts.x86_64, s.parts.x32, s.parts.single].flatMap((p) => (p ? [p.abi] : []));
    return f.load(SECCOMP_DATA_NR, rangeTree(f, ranges, leaf, weights && weightsByNumber(weights, partAbis)));
  });
  let dispatch = f.ret(badArchRet);
  for (let i = secs.length - 1; i >= 0; i--) dispatch = f.jump('jeq', secs[i]!.auditArch, sectionNodes[i]!, dispatch);
  return f.load(SECCOMP_DATA_ARCH, dispatch);
}
