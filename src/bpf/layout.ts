// Lays a DAG out as a linear program: a topological order (jumps only go forward) that
// prefers fall-through, then branch offsets, with `ret` copies or `ja` trampolines where a
// conditional jump would exceed the 255 instructions its 8-bit offset can reach.
import { successors, reachable, ALU_AND_K, JUMP_CODES, LD_ABS_W, RET_K, type Node } from './dag';
import { BPF_JA, BPF_JMP, type Instruction } from '../kernel/instruction';

const MAX_COND_JUMP = 255;

/** One instruction of the laid-out program, with branch targets as slots. */
interface Slot {
  code: number;
  k: number;
  /** Conditional jumps: both targets. `ja`: jt holds the target. Fall-through ops: jt = next. */
  jt?: Slot;
  jf?: Slot;
  kind: 'ret' | 'ld' | 'and' | 'jmp' | 'ja';
}

function order(root: Node): Node[] {
  const nodes = reachable(root);
  // Unplaced predecessors, by node id (ids are dense: NodeFactory numbers nodes as it makes them).
  const preds = new Int32Array(nodes.reduce((m, n) => Math.max(m, n.id), 0) + 1);
  // A jump's two branches are never one node (NodeFactory folds those): successors are distinct.
  for (const n of nodes) for (const s of successors(n)) preds[s.id]!++;
  const placed: Node[] = [];
  const ready: Node[] = [root];
  const fallThrough = (n: Node): Node | undefined => (n.kind === 'jmp' ? n.jf : n.kind === 'ret' ? undefined : n.next);
  let last: Node | undefined;
  while (ready.length) {
    // Prefer the fall-through successor of the last placed node; then the most recently
    // readied non-return (depth-first keeps subtrees together); returns go last, shared.
    const ft = last && fallThrough(last);
    // A fall-through successor readied just now is the last one readied.
    let idx = !ft ? -1 : ready[ready.length - 1] === ft ? ready.length - 1 : ready.indexOf(ft);
    if (idx < 0) {
      for (let i = ready.length - 1; i >= 0; i--) if (ready[i]!.kind !== 'ret') { idx = i; break; }
    }
    if (idx < 0) idx = ready.length - 1;
    const n = ready.splice(idx, 1)[0]!;
    placed.push(n);
    last = n;
    const succ = successors(n);
    for (let i = succ.length - 1; i >= 0; i--) {
      const s = succ[i]!;
      if (--preds[s.id]! === 0) ready.push(s);
    }
  }
  return placed;
}

function toSlots(nodes: Node[]): Slot[] {
  const slotOf = new Map<number, Slot>();
  for (const n of nodes) {
    const s: Slot = n.kind === 'ret' ? { kind: 'ret', code: RET_K, k: n.k }
      : n.kind === 'ld' ? { kind: 'ld', code: LD_ABS_W, k: n.offset }
      : n.kind === 'and' ? { kind: 'and', code: ALU_AND_K, k: n.k }
      : { kind: 'jmp', code: JUMP_CODES[n.op], k: n.k };
    slotOf.set(n.id, s);
  }
  // Link targets, adding a `ja` where a fall-through op's successor is not next.
  const out: Slot[] = [];
  nodes.forEach((n, i) => {
    const s = slotOf.get(n.id)!;
    out.push(s);
    if (n.kind === 'jmp') {
      s.jt = slotOf.get(n.jt.id);
      s.jf = slotOf.get(n.jf.id);
    } else if (n.kind !== 'ret') {
      const next = slotOf.get(n.next.id)!;
      s.jt = next;
      if (nodes[i + 1] !== n.next) out.push({ kind: 'ja', code: BPF_JMP | BPF_JA, k: 0, jt: next });
    }
  });
  return out;
}

/** Replaces each too-far branch with a nearby `ret` copy or `ja`, until all fit. */
function fixFarJumps(slots: Slot[]): void {
  for (;;) {
    const pos = new Map<Slot, number>();
    slots.forEach((s, i) => pos.set(s, i));
    let changed = false;
    for (let i = 0; i < slots.length && !changed; i++) {
      const s = slots[i]!;
      if (s.kind !== 'jmp') continue;
      for (const branch of ['jt', 'jf'] as const) {
        const target = s[branch]!;
        if (pos.get(target)! - i - 1 <= MAX_COND_JUMP) continue;
        const hop: Slot = target.kind === 'ret'
          ? { kind: 'ret', code: RET_K, k: target.k }
          : { kind: 'ja', code: BPF_JMP | BPF_JA, k: 0, jt: target };
        slots.splice(i + 1, 0, hop);
        s[branch] = hop;
        changed = true;
        break;
      }
    }
    if (!changed) return;
  }
}

function encode(slots: Slot[]): Instruction[] {
  const pos = new Map<Slot, number>();
  slots.forEach((s, i) => pos.set(s, i));
  return slots.map((s, i) => {
    const off = (t: Slot | undefined): number => pos.get(t!)! - i - 1;
    switch (s.kind) {
      case 'jmp': return { code: s.code, jt: off(s.jt), jf: off(s.jf), k: s.k };
      case 'ja': return { code: s.code, jt: 0, jf: 0, k: off(s.jt) };
      default: return { code: s.code, jt: 0, jf: 0, k: s.k };
    }
  });
}

/** The linear program for a DAG rooted at `root`. */
export function layout(root: Node): Instruction[] {
  const slots = toSlots(order(root));
  fixFarJumps(slots);
  return encode(slots);
}
