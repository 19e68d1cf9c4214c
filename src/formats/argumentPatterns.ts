// A syscall's decision over its arguments as disjoint boxes of bit patterns, the one shape
// libseccomp reads without ambiguity: each box is one OCI entry whose conditions are MASKED_EQ
// (one per argument), and no two boxes of different actions overlap, so libseccomp's
// unspecified ordering of conditional rules cannot change a result. Narrow arguments (an `int`
// on x86_64) test only their low bits, so setting the high half cannot slip past an entry.
import { widthMask, type ResolvedCondition } from '../policy/condition';
import { PolicyError } from '../policy/errors';
import type { ChainLink } from '../policy/resolve';

/** (arg & mask) == value. */
export interface ArgPattern { readonly mask: bigint; readonly value: bigint }
/** One pattern per tested argument index; an index that is absent takes any value. */
export type ArgBox = ReadonlyMap<number, ArgPattern>;
export interface DecidedBox { readonly ret: number; readonly box: ArgBox }

const ANY: ArgPattern = { mask: 0n, value: 0n };

/** More entries than this for one syscall: libseccomp's program would not fit the kernel's 4096. */
const MAX_BOXES = 512;

function bounded(boxes: ArgBox[], syscall: string): ArgBox[] {
  if (boxes.length > MAX_BOXES) {
    throw new PolicyError(`${syscall}: its argument rules come to more than ${MAX_BOXES} OCI entries`, undefined,
      'libseccomp would build a program past the kernel\'s 4096 instructions from them: compare fewer arguments, or load the raw filter');
  }
  return boxes;
}

function intersect(a: ArgPattern, b: ArgPattern): ArgPattern | undefined {
  if (((a.value ^ b.value) & a.mask & b.mask) !== 0n) return undefined;
  return { mask: a.mask | b.mask, value: a.value | b.value };
}

/** a minus b as disjoint patterns: one per bit that b fixes and a leaves free. */
function subtract(a: ArgPattern, b: ArgPattern): ArgPattern[] {
  if (!intersect(a, b)) return [a];
  const out: ArgPattern[] = [];
  let cur = a;
  for (let bit = 63n; bit >= 0n; bit--) {
    const m = 1n << bit;
    if (!(b.mask & m) || cur.mask & m) continue;
    out.push({ mask: cur.mask | m, value: cur.value | ((b.value & m) ^ m) });
    cur = { mask: cur.mask | m, value: cur.value | (b.value & m) };
  }
  return out;
}

/** [lo, hi] over `width` bits as aligned blocks, each a prefix pattern. */
function interval(lo: bigint, hi: bigint, width: number): ArgPattern[] {
  const all = widthMask(width as 64 | 32 | 16);
  const out: ArgPattern[] = [];
  while (lo <= hi) {
    let size = 1n;
    while (size <= all && (lo & (size * 2n - 1n)) === 0n && lo + size * 2n - 1n <= hi) size *= 2n;
    out.push({ mask: all & ~(size - 1n), value: lo });
    lo += size;
  }
  return out;
}

/** The values a condition admits, as disjoint patterns on its low `width` bits. */
function conditionPatterns(c: ResolvedCondition): ArgPattern[] {
  const all = widthMask(c.width);
  switch (c.op) {
    case 'eq': return [{ mask: all, value: c.value }];
    case 'masked_eq': return [{ mask: c.mask, value: c.value }];
    case 'ne': return subtract(ANY, { mask: all, value: c.value });
    case 'lt': return interval(0n, c.value - 1n, c.width);
    case 'le': return interval(0n, c.value, c.width);
    case 'gt': return interval(c.value + 1n, all, c.width);
    case 'ge': return interval(c.value, all, c.width);
  }
}

function intersectBoxes(a: ArgBox, b: ArgBox): ArgBox | undefined {
  const out = new Map(a);
  for (const [i, p] of b) {
    const both = intersect(out.get(i) ?? ANY, p);
    if (!both) return undefined;
    out.set(i, both);
  }
  return out;
}

/** a minus b as disjoint boxes, peeling one argument at a time. */
function subtractBox(a: ArgBox, b: ArgBox): ArgBox[] {
  if (!intersectBoxes(a, b)) return [a];
  const out: ArgBox[] = [];
  const cur = new Map(a);
  for (const i of [...b.keys()].sort((x, y) => x - y)) {
    const mine = cur.get(i) ?? ANY;
    for (const piece of subtract(mine, b.get(i)!)) out.push(new Map(cur).set(i, piece));
    cur.set(i, intersect(mine, b.get(i)!)!);
  }
  return out;
}

/** The calls a link's conditions (ANDed) admit. */
function linkBoxes(conditions: readonly ResolvedCondition[], syscall: string): ArgBox[] {
  let boxes: ArgBox[] = [new Map()];
  for (const c of conditions) {
    boxes = bounded(boxes.flatMap((box) => conditionPatterns(c).flatMap((p) => {
      const both = intersectBoxes(box, new Map([[c.argIndex, p]]));
      return both ? [both] : [];
    })), syscall);
  }
  return boxes;
}

const withoutAny = (box: ArgBox): ArgBox => new Map([...box].filter(([, p]) => p.mask !== 0n).sort(([x], [y]) => x - y));

/** Two boxes that differ in one bit of one argument become one box with that bit free. */
function mergeNeighbours(boxes: ArgBox[]): ArgBox[] {
  const list = boxes.map(withoutAny);
  for (let merged = true; merged;) {
    merged = false;
    search: for (let x = 0; x < list.length; x++) {
      for (let y = x + 1; y < list.length; y++) {
        const [a, b] = [list[x]!, list[y]!];
        if (a.size !== b.size) continue;
        const differing = [...a].filter(([i, p]) => { const q = b.get(i); return !q || q.mask !== p.mask || q.value !== p.value; });
        if (differing.length !== 1) continue;
        const [i, p] = differing[0]!;
        const q = b.get(i);
        const bit = q && q.mask === p.mask ? p.value ^ q.value : 0n;
        if (bit === 0n || (bit & (bit - 1n)) !== 0n) continue;
        list[x] = withoutAny(new Map(a).set(i, { mask: p.mask & ~bit, value: p.value & ~bit }));
        list.splice(y, 1);
        merged = true;
        break search;
      }
    }
  }
  return list;
}

/**
 * The non-default decisions of a chain (first matching link wins) as boxes: boxes of different
 * actions never overlap, and every call outside them takes the default.
 */
export function decisionBoxes(syscall: string, links: readonly ChainLink[], defaultRet: number): DecidedBox[] {
  const covered: ArgBox[] = [];
  const byRet = new Map<number, ArgBox[]>();
  for (const link of links) {
    const own = linkBoxes(link.conditions, syscall);
    let free = own;
    for (const c of covered) free = bounded(free.flatMap((box) => subtractBox(box, c)), syscall);
    covered.push(...own);
    if (link.ret !== defaultRet) byRet.set(link.ret, [...(byRet.get(link.ret) ?? []), ...free]);
  }
  return [...byRet].flatMap(([ret, boxes]) => mergeNeighbours(boxes).map((box) => ({ ret, box })));
}
