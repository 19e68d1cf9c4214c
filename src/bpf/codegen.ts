// Policy → program DAG (DESIGN §3): `ld arch`, one section per AUDIT_ARCH, `ld nr`, a
// balanced `jge` tree over syscall-number ranges, and at the leaves a `ret` or an argument
// ladder. Nothing reads args before the number is decided, so the kernel can cache allows.
import type { AbiPolicy } from '../policy/resolve';
import { NodeFactory, type Node } from './dag';
import { LadderBuilder } from './ladder';
import { decisionKey, sameDecision, sectionRanges, type Decision, type SyscallRange } from './ranges';
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

/** A balanced tree of jge over segment boundaries; each leaf checks its exceptions first. */
function rangeTree(f: NodeFactory, ranges: readonly SyscallRange[], leaf: (d: Decision) => Node): Node {
  const segs = segments(ranges);
  const segmentNode = (s: Segment): Node =>
    s.exceptions.reduceRight((rest, e) => f.jump('jeq', e.nr, leaf(e.decision), rest), leaf(s.decision));
  const build = (lo: number, hi: number): Node => {
    if (lo === hi) return segmentNode(segs[lo]!);
    const mid = Math.ceil((lo + hi + 1) / 2);
    return f.jump('jge', segs[mid]!.lo, build(mid, hi), build(lo, mid - 1));
  };
  return build(0, segs.length - 1);
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
        n = d.kind === 'ret' ? f.ret(d.k) : new LadderBuilder(f, d.abi.abi).ladder(d.chain.links, d.defaultRet);
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
