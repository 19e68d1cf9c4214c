import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ABIS, ABI_NAMES } from '../src/arch/abi';
import { syscallArgs, syscallName, syscallNumber, syscallsOf } from '../src/syscalls/table';
import { GENERATED_PATH, GROUPS_PATH, generateGroupsSource, generateTableSource, readLibseccompCsv } from '../scripts/gen-syscalls';
import { hasUpstream, UPSTREAM_DIR } from '../scripts/upstream';

const skip = hasUpstream() ? false : `upstream data not found at ${UPSTREAM_DIR}`;

test('the committed syscall table and systemd groups are what the generator produces', { skip }, () => {
  assert.equal(readFileSync(GENERATED_PATH, 'utf8'), generateTableSource(), 'run `npm run gen` and review the diff');
  assert.equal(readFileSync(GROUPS_PATH, 'utf8'), generateGroupsSource(), 'run `npm run gen` and review the diff');
});

test('every number agrees with libseccomp syscalls.csv on every ABI', { skip }, () => {
  const csv = readLibseccompCsv();
  // Known, documented differences (../shared/upstream/NOTES.md §1).
  const onlyInKernel = new Set(['loongarch64:memfd_secret']);
  for (const name of ABI_NAMES) {
    const abi = ABIS[name];
    const column = csv.get(abi.csvColumn)!;
    assert.ok(column, `CSV column ${abi.csvColumn}`);
    for (const { name: sys, nr } of syscallsOf(abi)) {
      const expected = column.get(sys);
      if (expected === undefined) {
        assert.ok(onlyInKernel.has(`${name}:${sys}`), `${name}: ${sys} (${nr}) is not in libseccomp's CSV`);
        continue;
      }
      assert.equal(nr, (abi.nrBase + expected) >>> 0, `${name}: ${sys}`);
    }
    for (const [sys] of column) assert.notEqual(syscallNumber(abi, sys), undefined, `${name}: ${sys} from the CSV is missing`);
  }
});

test('ABI bases and AUDIT_ARCH values', () => {
  assert.equal(syscallNumber(ABIS.x86_64, 'read'), 0);
  assert.equal(syscallNumber(ABIS.x32, 'read'), 0x40000000);
  assert.equal(syscallNumber(ABIS.x32, 'rt_sigaction'), 0x40000000 + 512);
  assert.equal(syscallNumber(ABIS.x86, 'socketcall'), 102);
  assert.equal(syscallNumber(ABIS.mips, 'read'), 4003);
  assert.equal(syscallNumber(ABIS.mips64, 'read'), 5000);
  assert.equal(syscallNumber(ABIS.mips64n32, 'read'), 6000);
  assert.equal(syscallNumber(ABIS.arm, 'set_tls'), 0x0f0005);
  assert.equal(syscallNumber(ABIS.aarch64, 'open'), undefined);
  assert.equal(syscallNumber(ABIS.aarch64, 'renameat'), 38);
  assert.equal(syscallNumber(ABIS.riscv64, 'riscv_hwprobe'), 258);
  assert.equal(syscallName(ABIS.x86_64, 257), 'openat');
  assert.equal(ABIS.x86_64.auditArch, 0xc000003e);
  assert.equal(ABIS.x86.auditArch, 0x40000003);
  assert.equal(ABIS.aarch64.auditArch, 0xc00000b7);
  assert.equal(ABIS.mips64n32.auditArch, 0xa0000008);
  assert.equal(ABIS.mipsel64n32.auditArch, 0xe0000008);
  assert.equal(ABIS.s390x.auditArch, 0x80000016);
  assert.equal(ABIS.ppc64le.auditArch, 0xc0000015);
  assert.equal(ABIS.sh.auditArch, 0x4000002a);
  assert.equal(ABIS.sheb.auditArch, 0x2a);
});

test('argument widths come from the kernel prototypes, capped on 32-bit ABIs', () => {
  const ioctl = syscallArgs(ABIS.x86_64, 'ioctl')!;
  assert.deepEqual(ioctl.map((a) => [a.name, a.bits]), [['fd', 32], ['cmd', 32], ['arg', 64]]);
  assert.equal(syscallArgs(ABIS.x86_64, 'openat')![3]!.bits, 16); // umode_t
  assert.equal(syscallArgs(ABIS.x86, 'ioctl')![2]!.bits, 32);
  // clone's argument order differs per ABI (CONFIG_CLONE_BACKWARDS*).
  assert.deepEqual(syscallArgs(ABIS.x86_64, 'clone')!.map((a) => a.name), ['clone_flags', 'newsp', 'parent_tidptr', 'child_tidptr', 'tls']);
  assert.deepEqual(syscallArgs(ABIS.aarch64, 'clone')!.map((a) => a.name), ['clone_flags', 'newsp', 'parent_tidptr', 'tls', 'child_tidptr']);
  assert.equal(syscallArgs(ABIS.s390x, 'clone')![1]!.name, 'clone_flags');
});

test('an argument key argN is the argument at index N for every syscall (prctl\'s kernel names arg2-arg5 are renamed to their index)', () => {
  for (const abi of Object.values(ABIS)) {
    for (const e of syscallsOf(abi)) {
      for (const a of syscallArgs(abi, e.name) ?? []) {
        const m = /^arg([0-5])$/.exec(a.name);
        if (m) assert.equal(Number(m[1]), a.index, `${abi.name} ${e.name}: ${a.name} is argument ${a.index}`);
      }
    }
  }
  const prctl = syscallArgs(ABIS.x86_64, 'prctl')!;
  assert.deepEqual(prctl.map((a) => a.name), ['option', 'arg1', 'arg2', 'arg3', 'arg4']);
});
