// Learn mode: the learned policy re-runs its command byte-identically and blocks what it never used;
// what the built-in policy refuses stays refused while learning; nothing recorded becomes code.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { typeErrors } from './helpers/typeErrors';
import { emptyLearned, learnedToOci, learnedToTs, readLearned, type Learned } from '../src/jail/learn';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const LOADER = join(REPO_ROOT, 'dist/src/formats/load.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-learn-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);
// A program whose constructor (run before main(), so before --late's switch) tries to leave.
const EARLY = join(work, 'early-unshare');
writeFileSync(`${EARLY}.c`, [
  '#define _GNU_SOURCE',
  '#include <errno.h>', '#include <sched.h>', '#include <stdio.h>', '#include <string.h>',
  'static int early;',
  '__attribute__((constructor)) static void before_main(void) { early = unshare(CLONE_NEWUSER) == 0 ? 0 : errno; }',
  'int main(void) { printf(early ? "blocked %s\\n" : "ESCAPED\\n", strerrorname_np(early)); return early == 0; }',
  '',
].join('\n'));
execFileSync('cc', ['-O2', '-o', EARLY, `${EARLY}.c`]);
// Where policies learned as nobody are written.
const shared = join(work, 'shared');
mkdirSync(shared);
chmodSync(shared, 0o777);
const onX86 = process.arch === 'x64' ? false : 'the probes use x86_64 syscalls';

const tsjail = (args: string[], asNobody = false): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, ...args];
  const [cmd, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', timeout: 60000 });
};

const PROGRAMS: readonly (readonly string[])[] = [
  ['sh', '-c', 'echo one; echo two | tr a-z A-Z'],
  ['/usr/bin/python3', '-c', 'import json; print(json.dumps({"x": [1, 2]}))'],
  [process.execPath, '-e', 'console.log([3, 1, 2].sort().join(","))'],
  ['ls', '/usr'],
];

for (const cmd of PROGRAMS) {
  test(`learn ${cmd[0]}: the learned policy runs it to the same output`, () => {
    const policy = join(work, `${cmd[0]!.split('/').pop()}.ts`);
    const learned = tsjail(['learn', '-o', policy, '--', ...cmd]);
    assert.equal(learned.status, 0, learned.stderr);
    assert.match(learned.stderr, /tsjail: learned \d+ distinct syscalls from \d+ calls -> /);
    const again = tsjail(['run', '--policy', policy, '--', ...cmd]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, learned.stdout);
    assert.equal(again.stderr, '', 'no denial under the learned policy');
  });
}

test('a learned policy denies what the command never used (escape probe), and --format json and --merge work', { skip: onX86 }, () => {
  const ts = join(work, 'probe.ts');
  // The probe exits 1 when its call succeeds ("ESCAPED"); learn passes that status through.
  assert.equal(tsjail(['learn', '-o', ts, '--', PROBE, 'read', '/etc/hostname']).status, 1);
  const policy = readFileSync(ts, 'utf8');
  assert.match(policy, /default: errno\('EPERM'\)/);
  assert.doesNotMatch(policy, /'keyctl'/);
  const blocked = tsjail(['run', '--policy', ts, '--', PROBE, 'keyctl']);
  assert.equal(blocked.stdout, 'blocked EPERM\n');
  assert.match(blocked.stderr, /keyctl\(.*\) -> EPERM\n {8}decided by: the default action/);
  // JSON: an OCI profile tsjail run accepts.
  const json = join(work, 'probe.json');
  assert.equal(tsjail(['learn', '--format', 'json', '-o', json, '--', PROBE, 'read', '/etc/hostname']).status, 1);
  const profile = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(tsjail(['run', '--policy', json, '--', PROBE, 'read', '/etc/hostname']).stdout, 'ESCAPED\n');
  assert.equal(tsjail(['run', '--policy', json, '--', PROBE, 'keyctl']).stdout, 'blocked EPERM\n');
  // --merge widens the first policy with a second command (keyctl is learned only when asked).
  const merged = join(work, 'merged.ts');
  assert.equal(tsjail(['learn', '--merge', ts, '--learn-dangerous', '-o', merged, '--', PROBE, 'keyctl']).status, 1);
  assert.match(readFileSync(merged, 'utf8'), /'keyctl'/);
  assert.equal(tsjail(['run', '--policy', merged, '--', PROBE, 'keyctl']).stdout, 'ESCAPED\n');
  assert.equal(tsjail(['run', '--policy', merged, '--', PROBE, 'read', '/etc/hostname']).stdout, 'ESCAPED\n');
  assert.match(tsjail(['learn', '--merge', join(REPO_ROOT, 'fixtures/strict.ts'), '--', 'true']).stderr, /not written by tsjail learn/);
});

// --- What the built-in policy refuses stays refused while learning ---

/** [what the command does, the command, the syscall, the built-in group named in the report]. */
const DANGEROUS: readonly (readonly [string, readonly string[], string, string])[] = [
  ['unshare -U true', ['unshare', '-U', 'true'], 'unshare', 'namespaces'],
  ['a mount', [PROBE, 'mount'], 'mount', 'mounts and roots'],
  ['keyctl', [PROBE, 'keyctl'], 'keyctl', 'keyrings'],
  ['clone with CLONE_NEWUSER', [PROBE, 'clone-newuser'], 'clone', 'clone with namespaces'],
  ['io_uring_setup', [PROBE, 'io_uring_setup'], 'io_uring_setup', 'kernel attack surface'],
  ['process_vm_readv', [PROBE, 'process_vm_readv'], 'process_vm_readv', 'process inspection'],
];

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';
  for (const [what, cmd, syscall, group] of DANGEROUS) {
    test(`${who}: ${what} is refused while learning, reported, and not in the policy; --learn-dangerous observes it`, { skip: onX86 }, () => {
      const policy = join(shared, `dangerous-${syscall}-${asNobody}.ts`);
      const learned = tsjail(['learn', '-o', policy, '--', ...cmd], asNobody);
      assert.notEqual(learned.status, 125, learned.stderr);
      if (cmd[0] === PROBE) assert.equal(learned.stdout, 'blocked EPERM\n', 'answered with the built-in errno');
      else assert.match(learned.stderr, /unshare failed: Operation not permitted/);
      const report = learned.stderr.split('\n').filter((l) => l.includes(`refused ${syscall} `));
      assert.equal(report.length, 1, `reported once:\n${learned.stderr}`);
      assert.match(report[0]!, new RegExp(`^tsjail: learn: refused ${syscall} x1 with EPERM \\(built-in group '${group}'\\).*--learn-dangerous$`));
      const text = readFileSync(policy, 'utf8');
      const code = text.slice(text.indexOf('export default'), text.lastIndexOf('/*'));
      if (syscall === 'clone') assert.doesNotMatch(code, /CLONE_NEWUSER/);
      else assert.doesNotMatch(code, new RegExp(`'${syscall}'`));
      assert.match(text, new RegExp(`// Refused while learning .*\\n//   x86_64: .*\\b${syscall} x1`));
      assert.deepEqual(readLearned(text, policy).refused, { x86_64: { [syscall]: 1 } });
      // The written policy does not let it through either.
      const again = tsjail(['run', '--policy', policy, '--', ...cmd], asNobody);
      assert.match(again.stderr, new RegExp(`${syscall}\\(.*\\) -> EPERM`));
      // Asked for explicitly, it is observed (it runs, so the kernel decides) and learned.
      const loud = tsjail(['learn', '--learn-dangerous', '-o', policy, '--', ...cmd], asNobody);
      assert.match(loud.stderr, /WARNING: --learn-dangerous: .* RUN while learning and are ALLOWED by the written policy/);
      assert.doesNotMatch(loud.stderr, /learn: refused/);
      assert.match(readFileSync(policy, 'utf8'), syscall === 'clone' ? /allow\('clone', \{ clone_flags: \[.*CLONE_NEWUSER/ : new RegExp(`'${syscall}'`));
    });
  }

  test(`${who}: clone3 gets ENOSYS while learning, as under the built-in policy, and the written policy answers it the same way`, { skip: onX86 }, () => {
    const policy = join(shared, `clone3-${asNobody}.ts`);
    const learned = tsjail(['learn', '-o', policy, '--', PROBE, 'clone3'], asNobody);
    assert.equal(learned.stdout, 'blocked ENOSYS\n');
    assert.match(learned.stderr, /learn: refused clone3 x1 with ENOSYS \(built-in rule 'clone3'/);
    const text = readFileSync(policy, 'utf8');
    assert.match(text, /quiet\(errno\('ENOSYS', 'clone3'\)\)/);
    const again = tsjail(['run', '--policy', policy, '--', PROBE, 'clone3'], asNobody);
    assert.equal(again.stdout, 'blocked ENOSYS\n');
    assert.equal(again.stderr, '');
  });

  test(`${who}: a constructor's unshare before main() is refused under learn --late too`, () => {
    const learned = tsjail(['learn', '--late', '-o', join(shared, `early-${asNobody}.ts`), '--', EARLY], asNobody);
    assert.equal(learned.stdout, 'blocked EPERM\n', learned.stderr);
    assert.match(learned.stderr, /learn: refused unshare x1 with EPERM \(built-in group 'namespaces'\)/);
    assert.equal(learned.status, 0);
  });

  test(`${who}: an int 0x80 call is killed while learning, as under tsjail run, reported, and the policy stays x86_64-only; --learn-abi x86 learns it`, { skip: onX86 }, () => {
    const policy = join(shared, `int80-${asNobody}.ts`);
    const learned = tsjail(['learn', '-o', policy, '--', PROBE, 'int80-getpid'], asNobody);
    const run = tsjail(['run', '--', PROBE, 'int80-getpid'], asNobody);
    assert.equal(learned.status, 128 + 31, learned.stderr);
    assert.equal(learned.status, run.status, 'learn and run agree');
    assert.equal(learned.stdout, '', 'killed before it could print');
    assert.match(learned.stderr, /learn: killed the caller of getpid through the x86 ABI x1: .*--learn-abi x86/);
    const text = readFileSync(policy, 'utf8');
    assert.match(text, /arches: \['x86_64'\]/);
    assert.match(text, /\/\/ {3}x86 \(an ABI this policy does not target\): getpid x1/);
    assert.deepEqual(Object.keys(readLearned(text, policy).abis), ['x86_64']);
    // Asked for, the ABI is learned and the policy targets it.
    const asked = tsjail(['learn', '--learn-abi', 'x86', '-o', policy, '--', PROBE, 'int80-getpid'], asNobody);
    assert.equal(asked.stdout, 'ESCAPED\n', asked.stderr);
    assert.match(asked.stderr, /--learn-abi x86: calls through the x86 ABI are learned/);
    assert.match(readFileSync(policy, 'utf8'), /arches: \['x86', 'x86_64'\]/);
    assert.equal(tsjail(['run', '--policy', policy, '--', PROBE, 'int80-getpid'], asNobody).stdout, 'ESCAPED\n');
    // A record that covers another ABI is not merged into a policy without that ABI unasked.
    const merged = tsjail(['learn', '--merge', policy, '-o', join(shared, `int80-merged-${asNobody}.ts`), '--', 'true'], asNobody);
    assert.equal(merged.status, 125);
    assert.match(merged.stderr, /allows calls through the x86 ABI \(not the host's x86_64\): to keep it, add --learn-abi x86/);
    assert.ok(!existsSync(join(shared, `int80-merged-${asNobody}.ts`)));
  });
}

test('--learn-abi with an unknown ABI is a usage error naming it', () => {
  const r = tsjail(['learn', '--learn-abi', 'x86,vax', '--', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown ABI 'vax' for --learn-abi \(known: x86_64, x86, x32/);
});

// --- Nothing from the command line becomes code ---

const HOSTILE: readonly string[] = [
  '*/ process.exit(7) /*',
  '\u2028process.exit(7)//',
  '\u2029process.exit(7)//',
  '`${process.exit(7)}`',
  '${process.exit(7)}',
  '\nprocess.exit(7)//',
  '\r\nprocess.exit(7)//',
  '"); process.exit(7); ("',
  "'); process.exit(7); ('",
  '</script><script>process.exit(7)</script>',
  '\\u002a/ process.exit(7) /\\u002a',
  '<!-- -->\nprocess.exit(7)',
  '\u00e9\u{1f600}\u200b\u202e\ufeff',
];

/** Loads a policy with tsjail's own loader in a fresh process: what it prints, and its status. */
const load = (file: string): SpawnSyncReturns<string> => spawnSync(process.execPath, ['-e',
  `const { policy } = require(${JSON.stringify(LOADER)}).loadPolicyFile(process.argv[1]); console.log(policy.rules.length > 0 ? 'loaded' : 'empty')`,
  file], { encoding: 'utf8' });

const INERT = /^[\n\x20-\x7e]*$/;

test('a hostile command line is recorded, never run: the policy loads, type-checks and runs, and --merge gives the command back exactly', () => {
  const written: string[] = [];
  HOSTILE.forEach((hostile, i) => {
    const file = join(work, `hostile-${i}.ts`);
    const learned = tsjail(['learn', '-o', file, '--', 'true', hostile]);
    assert.equal(learned.status, 0, learned.stderr);
    const text = readFileSync(file, 'utf8');
    assert.match(text, INERT, 'printable ASCII only: no line or paragraph separator, no raw control character');
    assert.doesNotMatch(text.slice(text.lastIndexOf('/* tsjail-learned:') + 2, text.lastIndexOf('*/')), /\*/, 'nothing ends the record comment early');
    const loaded = load(file);
    assert.equal(loaded.status, 0, `${JSON.stringify(hostile)}: ${loaded.stderr}`);
    assert.equal(loaded.stdout, 'loaded\n');
    assert.deepEqual(readLearned(text, file).commands, [`true ${hostile}`]);
    assert.equal(tsjail(['run', '--policy', file, '--', 'true']).status, 0);
    const merged = join(work, `hostile-${i}-merged.ts`);
    assert.equal(tsjail(['learn', '--merge', file, '-o', merged, '--', 'true', 'again']).status, 0);
    assert.deepEqual(readLearned(readFileSync(merged, 'utf8'), merged).commands, ['true again', `true ${hostile}`]);
    assert.equal(load(merged).status, 0);
    written.push(file, merged);
  });
  assert.deepEqual(typeErrors(written), []);
});

test('a hostile command line in the JSON (OCI) output stays data: printable ASCII, the profile runs, the record round-trips', () => {
  HOSTILE.forEach((hostile, i) => {
    const file = join(work, `hostile-${i}.json`);
    assert.equal(tsjail(['learn', '-o', file, '--', 'true', hostile]).status, 0);
    const text = readFileSync(file, 'utf8');
    assert.match(text, INERT);
    assert.doesNotMatch(text, /[*<>&`]/);
    assert.deepEqual(JSON.parse(text)['x-tsjail-learned'].commands, [`true ${hostile}`]);
    assert.equal(tsjail(['run', '--policy', file, '--', 'true']).status, 0);
    const merged = join(work, `hostile-${i}-merged.json`);
    assert.equal(tsjail(['learn', '--merge', file, '-o', merged, '--', 'true']).status, 0);
    assert.deepEqual(readLearned(readFileSync(merged, 'utf8'), merged).commands, ['true', `true ${hostile}`]);
  });
});

test('strings argv cannot carry (NUL, lone surrogates) round-trip through a written policy and --merge, and never run', () => {
  const record: Learned = { ...emptyLearned(), abis: { x86_64: { read: { count: 1 } } } };
  record.commands.push('a\u0000b */ process.exit(7) /*', '\ud800\u2028process.exit(7)//', '\udfff x', `\u0000${HOSTILE.join('')}`);
  const file = join(work, 'surrogates.ts');
  const text = learnedToTs(record);
  writeFileSync(file, text);
  assert.match(text, INERT);
  assert.equal(load(file).status, 0, load(file).stderr);
  assert.deepEqual(readLearned(text, file).commands, record.commands);
  const merged = join(work, 'surrogates-merged.ts');
  assert.equal(tsjail(['learn', '--merge', file, '-o', merged, '--', 'true']).status, 0);
  assert.deepEqual(readLearned(readFileSync(merged, 'utf8'), merged).commands, ['true', ...record.commands]);
  const json = learnedToOci(record);
  assert.match(json, INERT);
  assert.deepEqual(JSON.parse(json)['x-tsjail-learned'].commands, record.commands);
  assert.deepEqual(typeErrors([file, merged]), []);
});

test('a hostile record handed to --merge is refused with its problem named, and nothing is written', () => {
  const hostile: readonly (readonly [string, RegExp])[] = [
    ['{"abis":{"x86_64":{"read\'); process.exit(7); (\'":{"count":1}}},"commands":[]}', /"read'\); process.exit\(7\); \('" is not a syscall of x86_64/],
    ['{"abis":{"x86_64":{"socket":{"count":1,"values":{"family":["AF_UNIX] }), process.exit(7), ({ x: ["]}}}},"commands":[]}', /abis\.x86_64\.socket: values of family are not numbers or constants/],
    ['{"abis":{"x86_64":{"socket":{"count":1,"values":{"family":["AF_NOPE"]}}}},"commands":[]}', /values of family are not numbers or constants/],
    ['{"abis":{"x86_64":{"socket":{"count":1,"values":{"family":["constructor"]}}}},"commands":[]}', /values of family are not numbers or constants/],
    ['{"abis":{"x86_64":{"socket":{"count":1,"values":{"type":["1"]}}}},"commands":[]}', /"type" is not an argument learn records/],
    ['{"abis":{"__proto__":{"read":{"count":1}}},"commands":[]}', /unknown ABI "__proto__"/],
    ['{"abis":{"x86_64\'], process.exit(7), [\'":{}},"commands":[]}', /unknown ABI/],
    ['{"abis":{"x86_64":{"toString":{"count":1}}},"commands":[]}', /"toString" is not a syscall of x86_64/],
    ['{"abis":{"x86_64":{"read":{"count":"1; process.exit(7)"}}},"commands":[]}', /abis\.x86_64\.read: no count/],
    ['{"abis":{},"commands":[7]}', /commands is not a list of strings/],
    ['{"abis":{},"commands":[],"refused":{"x86_64":{"mount*/process.exit(7)/*":1}}}', /refused\.x86_64: "mount\\u002a\/process.exit\(7\)\/\\u002a" is not a syscall/],
    ['{"abis":{},"commands":[], "late": "yes"}', /late is not a boolean/],
  ];
  hostile.forEach(([json, problem], i) => {
    const file = join(work, `bad-record-${i}.ts`);
    writeFileSync(file, `/* tsjail-learned: ${json} */\n`);
    const out = join(work, `bad-record-${i}-out.ts`);
    const r = tsjail(['learn', '--merge', file, '-o', out, '--', 'true']);
    assert.equal(r.status, 125, json);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: its learned record is not one tsjail learn writes`));
    assert.match(r.stderr, problem);
    assert.ok(!existsSync(out), 'nothing written');
  });
  writeFileSync(join(work, 'bad-json.ts'), '/* tsjail-learned: {"abis": */\n');
  assert.match(tsjail(['learn', '--merge', join(work, 'bad-json.ts'), '--', 'true']).stderr, /bad-json\.ts: its learned record is not valid JSON/);
});
