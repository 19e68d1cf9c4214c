// A program as a DAG of instructions with symbolic successors. Nodes are hash-consed, so equal
// subtrees (shared returns, identical argument checks) exist once, and a jump whose two
// branches are the same node folds away: the emitted program has no tautological tests.
import { BPF_ABS, BPF_ALU, BPF_AND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W } from '../kernel/instruction';

export type JumpOp = 'jeq' | 'jge' | 'jgt' | 'jset';

export type Node =
  | { readonly id: number; readonly kind: 'ret'; readonly k: number }
  | { readonly id: number; readonly kind: 'ld'; readonly offset: number; readonly next: Node }
  | { readonly id: number; readonly kind: 'and'; readonly k: number; readonly next: Node }
  | { readonly id: number; readonly kind: 'jmp'; readonly op: JumpOp; readonly k: number; readonly jt: Node; readonly jf: Node };

export const JUMP_CODES: Readonly<Record<JumpOp, number>> = {
  jeq: BPF_JMP | BPF_JEQ | BPF_K,
  jge: BPF_JMP | BPF_JGE | BPF_K,
  jgt: BPF_JMP | BPF_JGT | BPF_K,
  jset: BPF_JMP | BPF_JSET | BPF_K,
};
export const LD_ABS_W = BPF_LD | BPF_W | BPF_ABS;
export const ALU_AND_K = BPF_ALU | BPF_AND | BPF_K;
export const RET_K = BPF_RET | BPF_K;

/** Creates nodes; structurally equal nodes are the same object. */
export class NodeFactory {
  private readonly nodes = new Map<string, Node>();

  private intern(key: string, make: (id: number) => Node): Node {
    let n = this.nodes.get(key);
    if (!n) {
      n = make(this.nodes.size);
      this.nodes.set(key, n);
    }
    return n;
  }

  ret(k: number): Node {
    const kk = k >>> 0;
    return this.intern(`r${kk}`, (id) => ({ id, kind: 'ret', k: kk }));
  }

  load(offset: number, next: Node): Node {
    return this.intern(`l${offset},${next.id}`, (id) => ({ id, kind: 'ld', offset, next }));
  }

  and(k: number, next: Node): Node {
    const kk = k >>> 0;
    return this.intern(`a${kk},${next.id}`, (id) => ({ id, kind: 'and', k: kk, next }));
  }

  jump(op: JumpOp, k: number, jt: Node, jf: Node): Node {
    if (jt === jf) return jt;
    const kk = k >>> 0;
    return this.intern(`j${op}${kk},${jt.id},${jf.id}`, (id) => ({ id, kind: 'jmp', op, k: kk, jt, jf }));
  }
}

/** Every node reachable from root, each once. */
export function reachable(root: Node): Node[] {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: Node[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    out.push(n);
    for (const s of successors(n)) stack.push(s);
  }
  return out;
}

export function successors(n: Node): Node[] {
  switch (n.kind) {
    case 'ret': return [];
    case 'ld': case 'and': return [n.next];
    case 'jmp': return [n.jf, n.jt];
  }
}
