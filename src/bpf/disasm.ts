// Disassembler: a `line code jt jf k` listing beside readable pseudo-code that names syscalls,
// arches and return actions (`if (A == openat) goto 0012`).
import { ABIS, X32_SYSCALL_BIT, type Abi, type Endian } from '../arch/abi';
import { syscallName } from '../syscalls/table';
import {
  BPF_A, BPF_ABS, BPF_ALU, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_LD, BPF_LDX, BPF_LEN,
  BPF_MEM, BPF_MISC, BPF_RET, BPF_ST, BPF_STX, BPF_TAX, BPF_X, bpfClass, bpfMode, bpfOp, bpfSrc, type Instruction,
} from '../kernel/instruction';
import { describeDataOffset, describeRet, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR } from '../kernel/seccomp';

const ALU_NAMES: Record<number, string> = { 0x00: '+', 0x10: '-', 0x20: '*', 0x30: '/', 0x40: '|', 0x50: '&', 0x60: '<<', 0x70: '>>', 0x90: '%', 0xa0: '^' };
/** Mnemonic, the test, and the test negated (for a branch taken only when it fails). */
const JUMP_NAMES: Record<number, [string, string, string]> = {
  [BPF_JEQ]: ['jeq', '==', '!='], [BPF_JGT]: ['jgt', '>', '<='], [BPF_JGE]: ['jge', '>=', '<'], [BPF_JSET]: ['jset', '&', ''],
};

const pad = (n: number): string => n.toString().padStart(4, '0');
const hex = (n: number, w = 8): string => `0x${(n >>> 0).toString(16).padStart(w, '0')}`;

/** The kernel's name for an arch word: AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 (include/uapi/linux/audit.h). */
const AUDIT_NAMES: Readonly<Record<string, string>> = { x86: 'I386', sh: 'SHEL', sheb: 'SH' };
function archName(k: number): string | undefined {
  const abi = Object.values(ABIS).find((a) => a.auditArch === k >>> 0 && a.name !== 'x32');
  return abi && `AUDIT_ARCH_${AUDIT_NAMES[abi.name] ?? abi.name.toUpperCase()}`;
}

/** What A holds at each pc, to name constants: the arch word, the syscall number, or other. */
type AccMeaning = { kind: 'arch' } | { kind: 'nr'; abis: readonly Abi[] } | { kind: 'other' };

function numberName(k: number, abis: readonly Abi[]): string | undefined {
  for (const abi of abis) {
    if ((abi.name === 'x32') !== (k >>> 0 >= X32_SYSCALL_BIT && k >>> 0 !== 0xffffffff) && abis.length > 1) continue;
    const name = syscallName(abi, k);
    if (name) return name;
  }
  return undefined;
}

export interface DisassemblyLine {
  readonly pc: number;
  readonly ins: Instruction;
  readonly asm: string;
  readonly pseudo: string;
}

export function disassemble(program: readonly Instruction[], options: { endian: Endian; abis?: readonly Abi[] }): DisassemblyLine[] {
  const { endian } = options;
  const archOf = (k: number): Abi[] => {
    const found = Object.values(ABIS).filter((a) => a.auditArch === k >>> 0);
    return options.abis ? found.filter((a) => options.abis!.includes(a)) : found;
  };
  // The arch section each pc belongs to, learned from `jeq arch` branches.
  const sectionAt = new Array<readonly Abi[] | undefined>(program.length);
  const meaningAt = new Array<AccMeaning | undefined>(program.length);
  let meaning: AccMeaning = { kind: 'other' };
  let section: readonly Abi[] | undefined;
  return program.map((ins, pc) => {
    meaning = meaningAt[pc] ?? meaning;
    section = sectionAt[pc] ?? section;
    const { code, k, jt, jf } = ins;
    const next = (off: number): number => pc + 1 + off;
    const flow = (target: number, m: AccMeaning, s: readonly Abi[] | undefined): void => {
      if (target < program.length) { meaningAt[target] ??= m; if (s) sectionAt[target] ??= s; }
    };
    let asm: string;
    let pseudo: string;
    switch (bpfClass(code)) {
      case BPF_LD:
        if (bpfMode(code) === BPF_ABS) {
          asm = `ld  [${k}]`;
          pseudo = `A = ${describeDataOffset(k, endian)}`;
          meaning = k === SECCOMP_DATA_ARCH ? { kind: 'arch' } : k === SECCOMP_DATA_NR ? { kind: 'nr', abis: section ?? [] } : { kind: 'other' };
        } else if (bpfMode(code) === BPF_IMM) { asm = `ld  #${hex(k)}`; pseudo = `A = ${hex(k)}`; meaning = { kind: 'other' }; }
        else if (bpfMode(code) === BPF_MEM) { asm = `ld  M[${k}]`; pseudo = `A = M[${k}]`; meaning = { kind: 'other' }; }
        else if (bpfMode(code) === BPF_LEN) { asm = 'ld  #len'; pseudo = 'A = 64'; meaning = { kind: 'other' }; }
        else { asm = `ld  ?${hex(code, 2)}`; pseudo = '?'; }
        break;
      case BPF_LDX:
        asm = bpfMode(code) === BPF_MEM ? `ldx M[${k}]` : bpfMode(code) === BPF_LEN ? 'ldx #len' : `ldx #${hex(k)}`;
        pseudo = bpfMode(code) === BPF_MEM ? `X = M[${k}]` : bpfMode(code) === BPF_LEN ? 'X = 64' : `X = ${hex(k)}`;
        break;
      case BPF_ST: asm = `st  M[${k}]`; pseudo = `M[${k}] = A`; break;
      case BPF_STX: asm = `stx M[${k}]`; pseudo = `M[${k}] = X`; break;
      case BPF_ALU: {
        const op = ALU_NAMES[bpfOp(code)];
        const src = bpfSrc(code) === BPF_X ? 'X' : hex(k);
        asm = op ? `alu A ${op}= ${src}` : 'neg';
        pseudo = op ? `A ${op}= ${src}` : 'A = -A';
        meaning = { kind: 'other' };
        break;
      }
      case BPF_JMP: {
        if (bpfOp(code) === BPF_JA) {
          asm = `ja  ${pad(next(k))}`;
          pseudo = `goto ${pad(next(k))}`;
          flow(next(k), meaning, section);
          break;
        }
        const [mn, sym, negated] = JUMP_NAMES[bpfOp(code)] ?? ['j?', '?', ''];
        const src = bpfSrc(code) === BPF_X ? 'X' : hex(k);
        let named: string = src;
        // The x32 bit is a boundary, not a syscall, in any nr test (libseccomp: jge, tsjail: jge/jset).
        if (bpfSrc(code) !== BPF_X && meaning.kind === 'nr' && k >>> 0 === X32_SYSCALL_BIT && bpfOp(code) !== BPF_JEQ) named = 'X32_SYSCALL_BIT';
        else if (bpfSrc(code) !== BPF_X && bpfOp(code) !== BPF_JSET) {
          if (meaning.kind === 'arch') named = archName(k) ?? src;
          else if (meaning.kind === 'nr') named = numberName(k, meaning.abis) ?? src;
        }
        asm = `${mn} ${src} ${pad(next(jt))} ${pad(next(jf))}`;
        const failing = negated ? `A ${negated} ${named}` : `!(A ${sym} ${named})`;
        pseudo = jf === 0 ? `if (A ${sym} ${named}) goto ${pad(next(jt))}`
          : jt === 0 ? `if (${failing}) goto ${pad(next(jf))}`
          : `if (A ${sym} ${named}) goto ${pad(next(jt))} else goto ${pad(next(jf))}`;
        const archSection = meaning.kind === 'arch' && bpfOp(code) === BPF_JEQ ? archOf(k) : undefined;
        flow(next(jt), meaning, archSection ?? section);
        flow(next(jf), meaning, section);
        break;
      }
      case BPF_RET:
        asm = bpfSrc(code) === BPF_X || (code & 0x18) === BPF_A ? 'ret A' : `ret #${hex(k)}`;
        pseudo = (code & 0x18) === BPF_A ? 'return A' : `return ${describeRet(k)}`;
        break;
      case BPF_MISC:
        asm = (code & 0xf8) === BPF_TAX ? 'tax' : 'txa';
        pseudo = (code & 0xf8) === BPF_TAX ? 'X = A' : 'A = X';
        break;
      default: asm = '?'; pseudo = '?';
    }
    return { pc, ins, asm, pseudo };
  });
}

/** The text listing: ` line  OP   JT   JF   K` then the pseudo-code. */
export function formatDisassembly(lines: readonly DisassemblyLine[]): string {
  const header = ' line  OP   JT   JF   K           asm                        pseudo-code';
  const rule = ' ====  ==== ==== ==== ==========  =========================  ===========';
  const body = lines.map(({ pc, ins, asm, pseudo }) =>
    ` ${pad(pc)}  ${hex(ins.code, 2)} ${hex(ins.jt, 2)} ${hex(ins.jf, 2)} ${hex(ins.k)}  ${asm.padEnd(25)}  ${pseudo}`);
  return [header, rule, ...body, ''].join('\n');
}
