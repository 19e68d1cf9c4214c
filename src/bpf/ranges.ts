// Normalizes one arch section to ranges over the whole 32-bit syscall-number space: adjacent
// numbers with the same decision merge, gaps take the default (kafel's range_rules idea).
import { X32_SYSCALL_BIT } from '../arch/abi';
import { isNewerSyscall, NR_SKIP, type NewerSyscalls } from '../policy/newerSyscalls';
import type { AbiPolicy, SyscallChain } from '../policy/resolve';

export type Decision =
  | { readonly kind: 'ret'; readonly k: number }
  | { readonly kind: 'chain'; readonly chain: SyscallChain; readonly defaultRet: number; readonly abi: AbiPolicy };

export interface SyscallRange {
  readonly lo: number;
  readonly hi: number;
  readonly decision: Decision;
}

const MAX_NR = 0xffffffff;

const chainKeys = new WeakMap<SyscallChain, string>();

/** decisionKey, without building a key where the kinds or return values already tell. */
export function sameDecision(a: Decision, b: Decision): boolean {
  if (a === b) return true;
  if (a.kind === 'ret' || b.kind === 'ret') return a.kind === b.kind && (a as { k: number }).k === (b as { k: number }).k;
  return a.defaultRet === b.defaultRet && decisionKey(a) === decisionKey(b);
}

/** Equal keys ⇔ the decisions compile to the same code. */
export function decisionKey(d: Decision): string {
  if (d.kind === 'ret') return `r${d.k}`;
  let key = chainKeys.get(d.chain);
  if (key === undefined) {
    key = JSON.stringify(d.chain.links.map((l) => [l.ret, l.conditions.map((c) => [c.argIndex, c.width, c.op, String(c.value), String(c.mask)])]));
    chainKeys.set(d.chain, key);
  }
  return `c${d.defaultRet}:${d.abi.abi.endian}:${key}`;
}

function chainDecision(p: AbiPolicy, chain: SyscallChain): Decision {
  const only = chain.links[0]!;
  if (chain.links.length === 1 && only.conditions.length === 0) return { kind: 'ret', k: only.ret };
  return { kind: 'chain', chain, defaultRet: p.defaultRet, abi: p };
}

interface Span { lo: number; hi: number; decision: Decision }

/**
 * The ranges of one arch section. `parts` are the targeted ABIs sharing one AUDIT_ARCH (only
 * x86_64 and x32 do); `badArchRet` fills the number space of a sharing ABI that is not targeted.
 */
export function sectionRanges(parts: { x86_64?: AbiPolicy; x32?: AbiPolicy; single?: AbiPolicy }, badArchRet: number): SyscallRange[] {
  const spans: Span[] = [];
  const fill = (lo: number, hi: number, p: AbiPolicy | undefined): void => {
    if (!p) { spans.push({ lo, hi, decision: { kind: 'ret', k: badArchRet } }); return; }
    const start = spans.length;
    let next = lo;
    for (const chain of p.chains) {
      if (chain.nr < lo || chain.nr > hi) continue;
      if (chain.nr > next) spans.push({ lo: next, hi: chain.nr - 1, decision: { kind: 'ret', k: p.defaultRet } });
      spans.push({ lo: chain.nr, hi: chain.nr, decision: chainDecision(p, chain) });
      next = chain.nr + 1;
    }
    if (next <= hi) spans.push({ lo: next, hi, decision: { kind: 'ret', k: p.defaultRet } });
    if (p.newer) spans.push(...withNewer(spans.splice(start), p.newer));
  };
  if (parts.single) {
    fill(0, MAX_NR, parts.single);
  } else {
    fill(0, X32_SYSCALL_BIT - 1, parts.x86_64);
    fill(X32_SYSCALL_BIT, MAX_NR - 1, parts.x32);
    // nr == -1 is what a tracer writes to skip a call: the normal path, not x32.
    const owner = (parts.x86_64 ?? parts.x32)!;
    spans.push({ lo: MAX_NR, hi: MAX_NR, decision: { kind: 'ret', k: owner.defaultRet } });
  }
  return merge(spans);
}

/**
 * One ABI's spans with the numbers of its ENOSYS region (newer syscalls) taken out of them:
 * each span is cut where the region starts and ends, and the pieces inside return ENOSYS.
 */
function withNewer(spans: readonly Span[], newer: NewerSyscalls): Span[] {
  const bounds = [...newer.also.flatMap((n) => [n, n + 1]), newer.above + 1, NR_SKIP];
  return spans.flatMap((s) => {
    const cuts = [...new Set(bounds.filter((n) => n > s.lo && n <= s.hi))].sort((a, b) => a - b);
    return [s.lo, ...cuts].map((from, i): Span => ({
      lo: from, hi: (cuts[i] ?? s.hi + 1) - 1,
      decision: isNewerSyscall(newer, from) ? { kind: 'ret', k: newer.ret } : s.decision,
    }));
  });
}

function merge(spans: Span[]): SyscallRange[] {
  const out: Span[] = [];
  for (const s of spans) {
    const prev = out[out.length - 1];
    if (prev && prev.hi + 1 === s.lo && sameDecision(prev.decision, s.decision)) prev.hi = s.hi;
    else out.push({ lo: s.lo, hi: s.hi, decision: s.decision });
  }
  return out;
}
