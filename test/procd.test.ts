// OpenWrt procd's reading of seccomp JSON: checked against a program built the way procd builds
// it (NOTES.md §5: arch check, then each rule in order on one 32-bit word per argument).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ABIS, type Abi } from '../src/arch/abi';
import { compileProgram } from '../src/bpf/compile';
import { emulate } from '../src/bpf/emulator';
import type { Instruction } from '../src/kernel/instruction';
import { importProcd } from '../src/formats/procd';
import { syscallNumber, syscallsOf } from '../src/syscalls/table';
import { hasUpstream, upstreamPath } from '../scripts/upstream';
import { EDGE_VALUES } from './helpers/random';

const RET: Record<string, number> = { SCMP_ACT_ALLOW: 0x7fff0000, SCMP_ACT_KILL_PROCESS: 0x80000000, SCMP_ACT_KILL: 0, SCMP_ACT_ERRNO: 0x50000 };
const JMP: Record<string, [number, boolean]> = { SCMP_CMP_EQ: [0x15, false], SCMP_CMP_NE: [0x15, true], SCMP_CMP_GT: [0x25, false], SCMP_CMP_LE: [0x25, true], SCMP_CMP_GE: [0x35, false], SCMP_CMP_LT: [0x35, true] };

interface Rule { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo?: number; op: string }[] }

/** The program procd's seccomp-oci.c would load, written independently of tsjail's compiler. */
function procdProgram(profile: { defaultAction: string; syscalls: Rule[] }, abi: Abi): Instruction[] {
  const ret = (a: string, e?: number): Instruction => ({ code: 0x06, jt: 0, jf: 0, k: (RET[a]! | (a === 'SCMP_ACT_ERRNO' ? e ?? 1 : 0)) >>> 0 });
  // Built back to front: each rule falls through to the next on any mismatch.
  let tail: Instruction[] = [ret(profile.defaultAction)];
  for (const r of [...profile.syscalls].reverse()) {
    for (const name of [...r.names].reverse()) {
      const nr = syscallNumber(abi, name);
      if (nr === undefined) continue;
      const body: Instruction[] = [];
      for (const a of r.args ?? []) {
        body.push({ code: 0x20, jt: 0, jf: 0, k: 16 + 8 * a.index }); // ld args[i]: the first word in memory
        if (a.op === 'SCMP_CMP_MASKED_EQ') {
          body.push({ code: 0x54, jt: 0, jf: 0, k: a.value >>> 0 }, { code: 0x15, jt: 0, jf: -1, k: (a.valueTwo ?? 0) >>> 0 });
        } else {
          const [code, invert] = JMP[a.op]!;
          body.push({ code, jt: invert ? -1 : 0, jf: invert ? 0 : -1, k: a.value >>> 0 });
        }
      }
      body.push(ret(r.action, r.errnoRet));
      // -1 marks "to the next rule": resolve to the end of this block.
      const fixed = body.map((ins, i) => ({ ...ins, jt: ins.jt === -1 ? body.length - i - 1 : ins.jt, jf: ins.jf === -1 ? body.length - i - 1 : ins.jf }));
      tail = [{ code: 0x20, jt: 0, jf: 0, k: 0 }, { code: 0x15, jt: 0, jf: fixed.length, k: nr }, ...fixed, ...tail];
    }
  }
  return [{ code: 0x20, jt: 0, jf: 0, k: 4 }, { code: 0x15, jt: 1, jf: 0, k: abi.auditArch }, { code: 0x06, jt: 0, jf: 0, k: 0 }, ...tail];
}

function compare(profile: { defaultAction: string; syscalls: Rule[] }, abi: Abi): number {
  const ours = compileProgram(importProcd(profile, 'p.json', abi).policy);
  const theirs = procdProgram(profile, abi);
  let n = 0;
  for (const { nr, name } of syscallsOf(abi)) {
    if (!profile.syscalls.some((r) => r.names.includes(name))) continue;
    for (const v of EDGE_VALUES) for (const i of [0, 1]) {
      const args = [0n, 0n];
      args[i] = v;
      const data = { nr, arch: abi.auditArch, args };
      assert.equal(emulate(ours.instructions, data, abi.endian).ret, emulate(theirs, data, abi.endian).ret, `${abi.name} ${name} args ${args}`);
      n++;
    }
  }
  return n;
}

const PROFILE = {
  defaultAction: 'SCMP_ACT_KILL_PROCESS',
  syscalls: [
    { names: ['read', 'write', 'close', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
    { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2, op: 'SCMP_CMP_EQ' }] },
    { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 10, op: 'SCMP_CMP_GE' }] },
    { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0x5412, op: 'SCMP_CMP_NE' }] },
    { names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0xf0, valueTwo: 0x10, op: 'SCMP_CMP_MASKED_EQ' }] },
    { names: ['close'], action: 'SCMP_ACT_ERRNO' }, // after close's unconditional allow: never used
    { names: ['no_such_syscall'], action: 'SCMP_ACT_ALLOW' }, // skipped, as procd does
  ],
};

test('procd semantics: first match, one 32-bit word per argument (low on little-endian, high on big-endian)', () => {
  assert.ok(compare(PROFILE, ABIS.x86_64) > 100);
  assert.ok(compare(PROFILE, ABIS.mips64) > 100);
  assert.ok(compare(PROFILE, ABIS.aarch64) > 100);
});

test("OpenWrt's umdns profile under procd semantics", { skip: hasUpstream() ? false : 'upstream data not found' }, () => {
  const umdns = JSON.parse(readFileSync(upstreamPath('openwrt/umdns.json'), 'utf8'));
  for (const abi of [ABIS.mipsel, ABIS.aarch64, ABIS.x86_64]) assert.ok(compare(umdns, abi) > 0);
  assert.throws(() => importProcd({ ...umdns, architectures: ['SCMP_ARCH_PPC'] }, 'umdns.json', ABIS.x86_64), /do not include x86_64/);
});
