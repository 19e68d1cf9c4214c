// The library: spawn() and run() jail commands from the caller's own process (pipes, denial
// events, kill, abort, timeout, many at once), loadFilter() filters the calling process (every
// thread), and bad options never run anything. As root, and rootless (the file runs itself again
// as nobody); the README's examples run as they are written.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { JailError, run, spawn, type DenialRecord, type JailedProcess } from '../src/index';

const ROOTLESS = process.env.TSJAIL_LIBRARY_ROOTLESS === '1';
const who = ROOTLESS ? 'rootless' : process.getuid?.() === 0 ? 'as root' : 'rootless';
const work = mkdtempSync(join(tmpdir(), 'tsjail-library-'));
chmodSync(work, 0o777);
const INDEX = join(REPO_ROOT, 'dist/src/index.js');

/** The events of a child, in order, until 'close'. */
function events(child: JailedProcess): Promise<string[]> {
  const seen: string[] = [];
  for (const name of ['spawn', 'exit', 'error']) child.on(name, (...args: unknown[]) => seen.push(`${name}${name === 'error' ? '' : args.length ? ` ${args.map(String).join(' ')}` : ''}`));
  return new Promise((resolve) => child.on('close', (code, signal) => { seen.push(`close ${code} ${signal}`); resolve(seen); }));
}

test(`${who}: spawn with pipes: stdin reaches the command and its stdout comes back; spawn, exit, close in order`, async () => {
  const child = spawn('tr', ['a-z', 'A-Z']);
  const order = events(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin!.end('piped through the jail\n');
  assert.deepEqual(await order, ['spawn', 'exit 0 null', 'close 0 null']);
  assert.equal(out, 'PIPED THROUGH THE JAIL\n');
  assert.ok(Number.isInteger(child.pid) && child.pid! > 0);
  assert.equal(child.exitCode, 0);
  assert.equal(child.signalCode, null);
});

test(`${who}: stdio given as an fd of the caller, and 'ignore'`, async () => {
  const file = join(work, `out-${process.pid}`);
  writeFileSync(file, '', { mode: 0o666 });
  const fd = require('node:fs').openSync(file, 'w') as number;
  try {
    const child = spawn('sh', ['-c', 'echo to-the-file; cat'], { stdio: ['ignore', fd, 'ignore'] });
    assert.equal(child.stdin, null);
    assert.equal(child.stdout, null);
    assert.deepEqual(await events(child), ['spawn', 'exit 0 null', 'close 0 null']);
  } finally {
    require('node:fs').closeSync(fd);
  }
  assert.equal(readFileSync(file, 'utf8'), 'to-the-file\n');
});

test(`${who}: a refused call is a 'denial' event carrying the record --report writes`, async () => {
  const child = spawn('unshare', ['-U', 'true']);
  const denials: DenialRecord[] = [];
  child.on('denial', (r: DenialRecord) => denials.push(r));
  const messages: string[] = [];
  child.on('message', (m: string) => messages.push(m));
  assert.deepEqual(await events(child), ['spawn', 'exit 1 null', 'close 1 null']);
  assert.equal(denials.length, 1);
  const [d] = denials;
  assert.equal(d!.syscall, 'unshare');
  assert.equal(d!.action, 'EPERM');
  assert.equal(d!.mode, 'enforce');
  assert.match(d!.suggestion, /^allow\('unshare'/);
  assert.deepEqual(d!.args.map((a) => [a.name, a.value]), [['unshare_flags', '0x10000000']]); // CLONE_NEWUSER
  // The explanation is a message event (as the CLI would print it), not caller stderr.
  assert.ok(messages.some((m) => m.includes('unshare(') && m.includes('-> EPERM')), messages.join('\n'));
});

test(`${who}: denial reports reach the caller's stderr only when asked (messages: 'stderr')`, () => {
  const script = (messages: string): string => `const { run } = require(${JSON.stringify(INDEX)});
    run('unshare', ['-U', 'true'], ${messages}).then((r) => console.log(JSON.stringify(r.denials.map((d) => d.syscall))));`;
  for (const [messages, toStderr] of [['{}', false], ["{ messages: 'stderr' }", true]] as const) {
    const r = spawnSync(process.execPath, ['-e', script(messages)], { encoding: 'utf8', cwd: work, timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '["unshare"]\n');
    if (toStderr) assert.match(r.stderr, /tsjail: pid \d+ unshare\(.*-> EPERM/);
    else assert.equal(r.stderr, '');
  }
});

test(`${who}: kill() sends SIGTERM to the command; kill('SIGKILL') ends the whole jail`, async () => {
  const term = spawn('sleep', ['1000'], { stdio: 'ignore' });
  term.on('spawn', () => assert.equal(term.kill(), true));
  assert.deepEqual(await events(term), ['spawn', 'exit null SIGTERM', 'close null SIGTERM']);
  assert.equal(term.killed, true);
  assert.equal(term.kill(), false, 'an ended jail is not signalled again');
  // A shell that ignores SIGTERM and a background child: SIGKILL takes them all.
  const all = spawn('sh', ['-c', 'trap "" TERM; sleep 1000 & wait'], { stdio: 'ignore' });
  all.on('spawn', () => all.kill('SIGKILL'));
  assert.deepEqual(await events(all), ['spawn', 'exit null SIGKILL', 'close null SIGKILL']);
  assert.throws(() => spawn('true').kill('SIGNOPE' as NodeJS.Signals), /unknown signal 'SIGNOPE'/);
});

test(`${who}: a command that dies of a signal it did not get from here is told as child_process tells it; exit 139 stays an exit`, async () => {
  // With a PID 1 (or keeper) between, the command's own status comes from its pidfd (Linux 6.15+);
  // before that the fallback is tsjail run's exit status, 128+N.
  const [major, minor] = release().split('.').map(Number) as [number, number];
  const kept = major > 6 || (major === 6 && minor >= 15);
  for (const jail of [{}, { noNamespaces: true }] as const) {
    const segv = await run('sh', ['-c', 'sleep 0.2; kill -SEGV $$'], jail);
    const expected = kept || 'noNamespaces' in jail ? { code: null, signal: 'SIGSEGV' } : { code: 139, signal: null };
    assert.deepEqual({ code: segv.code, signal: segv.signal }, expected, JSON.stringify(jail));
    const exited = await run('sh', ['-c', 'exit 139'], jail);
    assert.deepEqual({ code: exited.code, signal: exited.signal }, { code: 139, signal: null }, JSON.stringify(jail));
  }
  // A command that catches the SIGTERM sent and exits 143 exited: no signal.
  const caught = spawn('sh', ['-c', 'trap "exit 143" TERM; sleep 1000 & wait'], { stdio: 'ignore' });
  caught.on('spawn', () => setTimeout(() => caught.kill(), 200));
  assert.deepEqual((await events(caught)).slice(-1), [kept ? 'close 143 null' : 'close null SIGTERM']);
});

test(`${who}: kill() of a signal PID 1 does not pass on reaches the command itself: SIGSTOP stops it (not PID 1), SIGABRT reaches its trap`, async () => {
  const state = (pid: number): string => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));
  for (const jail of [{}, { noNamespaces: true }] as const) {
    const child = spawn('sh', ['-c', 'trap "echo abrt; exit 7" ABRT; echo up; while :; do sleep 0.05; done'], { stdio: ['ignore', 'pipe', 'ignore'], ...jail });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; });
    while (!out.includes('up')) await new Promise((r) => setTimeout(r, 20));
    // The jail's first process (PID 1, or the keeper) and its child, the command.
    const command = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    child.kill('SIGSTOP');
    await settle();
    assert.equal(state(command), 'T', `${JSON.stringify(jail)}: the command is stopped`);
    assert.notEqual(state(child.pid!), 'T', 'the jail\'s first process is not');
    child.kill('SIGCONT');
    await settle();
    assert.notEqual(state(command), 'T', 'and continues');
    child.kill('SIGABRT');
    assert.deepEqual(await new Promise((done) => child.on('close', (code, signal) => done([code, signal]))), [7, null]);
    assert.match(out, /abrt/);
  }
});

test(`${who}: an AbortSignal kills the jail and emits an AbortError; one aborted already runs nothing`, async () => {
  const ac = new AbortController();
  const child = spawn('sleep', ['1000'], { signal: ac.signal, stdio: 'ignore' });
  const order = events(child);
  const errors: Error[] = [];
  child.on('error', (e: Error) => errors.push(e));
  child.on('spawn', () => ac.abort());
  assert.deepEqual(await order, ['spawn', 'error', 'exit null SIGKILL', 'close null SIGKILL']);
  assert.equal(errors[0]!.name, 'AbortError');
  const marker = join(work, `aborted-${process.pid}`);
  const early = spawn('touch', [marker], { signal: AbortSignal.abort(), fs: [{ rw: work }] });
  early.on('error', (e: Error) => errors.push(e));
  assert.deepEqual(await events(early), ['error', 'close null null']);
  assert.equal(errors[1]!.name, 'AbortError');
  assert.equal(existsSync(marker), false);
});

test(`${who}: timeout ends the jail; run() resolves with the signal`, async () => {
  const r = await run('sleep', ['1000'], { timeout: 200 });
  assert.deepEqual({ code: r.code, signal: r.signal }, { code: null, signal: 'SIGKILL' });
  assert.throws(() => spawn('true', [], { timeout: -1 }), /timeout must be a positive number of milliseconds, not -1/);
});

test(`${who}: 50 jails at once from one process all succeed, each with its own input and output`, async () => {
  const before = process.listenerCount('SIGINT');
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => run('sh', ['-c', 'read line; echo "$line-$$"'], { input: `jail${i}\n` })));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    // Each its own PID namespace: the command is pid 2 in every one.
    assert.equal(r.stdout, `jail${i}-2\n`);
  });
  assert.equal(process.listenerCount('SIGINT'), before, 'the caller\'s signals are its own');
});

test(`${who}: run() resolves to { code, signal, stdout, stderr, denials }`, async () => {
  const r = await run('sh', ['-c', 'cat; echo err >&2; unshare -U true; exit 3'], { input: 'in\n' });
  assert.deepEqual(Object.keys(r).sort(), ['code', 'denials', 'signal', 'stderr', 'stdout']);
  assert.equal(r.code, 3);
  assert.equal(r.signal, null);
  assert.equal(r.stdout, 'in\n');
  assert.match(r.stderr, /^err\nunshare: /);
  assert.deepEqual(r.denials.map((d) => d.syscall), ['unshare']);
});

test(`${who}: a command that cannot be run is an 'error' event (status 127 / 126), never a 'spawn'`, async () => {
  for (const [command, status, message] of [['/nonexistent/cmd', 127, /command not found/], ['/etc/hostname', 126, /cannot execute: E(ACCES|NOEXEC)/]] as const) {
    const child = spawn(command);
    const errors: Error[] = [];
    child.on('error', (e: Error) => errors.push(e));
    assert.deepEqual(await events(child), ['error', `close ${status} null`]);
    assert.ok(errors[0] instanceof JailError);
    assert.match(errors[0]!.message, message);
    assert.equal((errors[0] as Error & { exitStatus: number }).exitStatus, status);
  }
  await assert.rejects(run('/nonexistent/cmd'), /command not found/);
});

test(`${who}: bad options throw, naming the key or value, and nothing runs`, async () => {
  const marker = join(work, `unconfined-${process.pid}`);
  const touch = (options: object): JailedProcess => spawn('touch', [marker], { fs: [{ rw: work }], ...options });
  assert.throws(() => touch({ netwrok: false }), /spawn options: unknown setting 'netwrok' — did you mean 'network'\?/);
  assert.throws(() => touch({ insecur: true }), /unknown setting 'insecur'/);
  assert.throws(() => touch({ stdio: ['pipe'] }), /stdio must be one value or three, not 1/);
  assert.throws(() => touch({ stdio: 'tty' }), /bad stdio value "tty"/);
  assert.throws(() => touch({ policy: 42 }), /policy must be a policy \(definePolicy\) or a policy file's path/);
  assert.throws(() => spawn(''), /non-empty string/);
  assert.throws(() => spawn('true', 'x' as unknown as string[]), /args must be an array of strings/);
  await assert.rejects(run('true', [], { maxBuffer: 0 }), /maxBuffer must be a positive whole number/);
  await assert.rejects(run('touch', [marker], { stdio: ['pipe', 1, 'pipe'] } as object), /stdio is not an option of run\(\)/);
  // A .js policy with a misspelled jail setting: a load-time error naming it, from the library and the CLI.
  const policy = join(work, `misspelled-${process.pid}.js`);
  writeFileSync(policy, `const { definePolicy } = require('tsjail');\nmodule.exports = definePolicy({ default: 'allow', rules: [], jail: { netwrok: false } });\n`);
  chmodSync(policy, 0o644);
  assert.throws(() => touch({ policy }), /jail: unknown setting 'netwrok' — did you mean 'network'\?/);
  const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/tsjail.js'), 'run', '--policy', policy, '--rw', work, '--', 'touch', marker], { encoding: 'utf8', cwd: work });
  assert.equal(cli.status, 125);
  assert.match(cli.stderr, /unknown setting 'netwrok'/);
  // A bad value found as the jail is built is an 'error' event, and nothing runs either.
  for (const [options, message] of [[{ rlimits: { nofiles: 5 } }, /unknown resource limit 'nofiles'/], [{ fs: [{ rw: join(work, 'missing') }] }, /rw .*missing: it does not exist/]] as const) {
    const late = touch(options);
    const errors: Error[] = [];
    late.on('error', (e: Error) => errors.push(e));
    assert.deepEqual(await events(late), ['error', 'close null null']);
    assert.match(errors[0]!.message, message);
  }
  assert.equal(existsSync(marker), false, 'nothing ran');
});

test(`${who}: hostile input: a FIFO or a directory symlink as the policy fails at once; a flood of output ends the jail`, async () => {
  const fifo = join(work, `policy-fifo-${process.pid}.ts`);
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => spawn('true', [], { policy: fifo }), /not a regular file/);
  const link = join(work, `policy-dir-${process.pid}.ts`);
  mkdirSync(join(work, `dir-${process.pid}`));
  symlinkSync(join(work, `dir-${process.pid}`), link);
  assert.throws(() => spawn('true', [], { policy: link }), /not a regular file/);
  await assert.rejects(run('sh', ['-c', 'while :; do echo flood; done'], { maxBuffer: 1 << 16 }), /more than maxBuffer \(65536 bytes\) to stdout: the jail was killed/);
  // A command that never reads its input, given a lot of it, does not fail the run.
  const r = await run('true', [], { input: 'x'.repeat(1 << 20) });
  assert.equal(r.code, 0);
});

test(`${who}: the library jail is the CLI's: a policy object's jail settings apply, the explicit options win`, async () => {
  const { definePolicy, allow, errno } = await import('../src/index');
  const policy = definePolicy({ default: allow(), rules: [errno('EPERM', 'mkdir', 'mkdirat')], jail: { network: false, hostname: 'from-policy' } });
  const r = await run('sh', ['-c', 'hostname; mkdir /tmp/x 2>/dev/null || echo refused; cat /proc/net/dev | grep -c :'], { policy, hostname: 'explicit' });
  assert.equal(r.stdout, 'explicit\nrefused\n1\n', r.stderr);
  assert.deepEqual(r.denials.map((d) => d.syscall), ['mkdir']);
});

test(`${who}: a policy file importing './base.js' gets base.ts (as tsc resolves it); a FIFO there is not waited on`, async () => {
  const dir = mkdtempSync(join(work, 'imports-'));
  writeFileSync(join(dir, 'base.ts'), "import { errno } from 'tsjail';\nexport const noDirs = errno('EPERM', 'mkdir', 'mkdirat');\n");
  writeFileSync(join(dir, 'policy.ts'), "import { definePolicy } from 'tsjail';\nimport { noDirs } from './base.js';\nimport { hostname } from './names';\nexport default definePolicy({ default: 'allow', rules: [noDirs], jail: { hostname } });\n");
  writeFileSync(join(dir, 'names.ts'), "export const hostname = 'from-names';\n");
  const r = await run('sh', ['-c', 'hostname; mkdir /tmp/d || true'], { policy: join(dir, 'policy.ts') });
  assert.equal(r.stdout, 'from-names\n', r.stderr);
  assert.deepEqual(r.denials.map((d) => d.syscall), ['mkdir']);
  execFileSync('mkfifo', [join(dir, 'fifo.ts')]);
  writeFileSync(join(dir, 'hostile.ts'), "import { definePolicy } from 'tsjail';\nimport './fifo.js';\nexport default definePolicy({ rules: [] });\n");
  assert.throws(() => spawn('true', [], { policy: join(dir, 'hostile.ts') }), /error while loading the policy: Cannot find module '.\/fifo.js'/);
});

test(`${who}: drift mode: a call outside the expected policy that the enforced one allows runs, and is a 'drift' event`, async () => {
  const expected = join(work, `expected-${process.pid}.ts`);
  writeFileSync(expected, "import { definePolicy, errno } from 'tsjail';\nexport default definePolicy({ default: 'allow', rules: [errno('EPERM', 'mkdir', 'mkdirat')] });\n");
  const child = spawn('sh', ['-c', 'mkdir /tmp/drifted && echo made'], { policy: expected, enforce: '@builtin', stdio: ['ignore', 'pipe', 'ignore'] });
  const drift: DenialRecord[] = [], denials: DenialRecord[] = [];
  child.on('drift', (r: DenialRecord) => drift.push(r));
  child.on('denial', (r: DenialRecord) => denials.push(r));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  assert.deepEqual(await events(child), ['spawn', 'exit 0 null', 'close 0 null']);
  assert.equal(out, 'made\n');
  assert.deepEqual(drift.map((r) => [r.syscall, Boolean(r.drift)]), [['mkdir', true]]);
  assert.deepEqual(denials, []);
  assert.throws(() => spawn('true', [], { enforce: '@builtin' }), /--enforce @builtin needs --policy FILE/);
});

/** Runs a script in a Node process of its own (loadFilter filters the process it runs in). */
function node(script: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['-e', `const tsjail = require(${JSON.stringify(INDEX)});\n${script}`], { encoding: 'utf8', cwd: work, timeout: 60000 });
}

test(`${who}: loadFilter in a Node process: the refused call fails there and in a worker thread started before (TSYNC)`, () => {
  const dir = join(work, `lf-${process.pid}`);
  const r = node(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker("require('worker_threads').parentPort.on('message', (d) => { let got; try { require('fs').mkdirSync(d); got = 'made'; } catch (e) { got = e.code; } require('worker_threads').parentPort.postMessage(got); });", { eval: true });
    w.on('online', () => {
      tsjail.loadFilter(tsjail.definePolicy({ default: 'allow', rules: [tsjail.errno('EPERM', 'mkdir', 'mkdirat')] }), { threads: 'all' });
      let main; try { require('fs').mkdirSync(${JSON.stringify(dir)} + '-main'); main = 'made'; } catch (e) { main = e.code; }
      w.on('message', (got) => { console.log(main, got, require('fs').readFileSync('/proc/self/status', 'utf8').match(/^NoNewPrivs:\\s+(\\d)/m)[1]); process.exit(0); });
      w.postMessage(${JSON.stringify(dir)} + '-worker');
    });`);
  assert.equal(r.stdout, 'EPERM EPERM 1\n', r.stderr);
  assert.equal(existsSync(`${dir}-main`) || existsSync(`${dir}-worker`), false);
});

test(`${who}: loadFilter: a thread with a filter of its own makes TSYNC fail, naming its id, and nothing is loaded`, () => {
  const r = node(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker(\`const t = require(${JSON.stringify(INDEX)}); const { parentPort } = require('worker_threads');
      t.loadFilter(t.definePolicy({ default: 'allow', rules: [t.errno('EPERM', 'getcwd')] }), { threads: 'current' });
      parentPort.on('message', () => {});
      parentPort.postMessage(require('fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);\`, { eval: true });
    w.on('message', (tid) => {
      try { tsjail.loadFilter(tsjail.definePolicy({ default: 'allow', rules: [tsjail.errno('EPERM', 'mkdir', 'mkdirat')] })); console.log('loaded'); }
      catch (e) { console.log(e.constructor.name, e.message.includes('thread ' + tid + ' of this process cannot take the filter')); }
      let made; try { require('fs').mkdirSync(${JSON.stringify(join(work, `lf-tsync-${process.pid}`))}); made = 'made'; } catch (e) { made = e.code; }
      console.log(made);
      process.exit(0);
    });`);
  assert.equal(r.stdout, 'JailError true\nmade\n', r.stderr);
});

test(`${who}: loadFilter refuses bytes the kernel would refuse, and bad options, before loading anything`, () => {
  const r = node(`
    for (const [what, call] of [
      ['odd', () => tsjail.loadFilter(new Uint8Array(7))],
      ['empty', () => tsjail.loadFilter(new Uint8Array(0))],
      ['no-ret', () => tsjail.loadFilter(new Uint8Array([0x20, 0, 0, 0, 0, 0, 0, 0]))],
      ['threads', () => tsjail.loadFilter(tsjail.definePolicy({ default: 'allow', rules: [] }), { threads: 'some' })],
      ['string', () => tsjail.loadFilter('allow')],
    ]) { try { call(); console.log(what, 'loaded'); } catch (e) { console.log(what, e.message); } }
    console.log(require('fs').readFileSync('/proc/self/status', 'utf8').match(/^Seccomp:\\s+(\\d)/m)[1]);`);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^odd loadFilter: a filter is whole 8-byte instructions, not 7 bytes/);
  assert.match(lines[1]!, /^empty loadFilter: the kernel would refuse this filter: the program is empty/);
  assert.match(lines[2]!, /^no-ret loadFilter: the kernel would refuse this filter/);
  assert.match(lines[3]!, /^threads loadFilter: threads must be 'all' or 'current', not "some"/);
  assert.match(lines[4]!, /^string loadFilter: expected a policy/);
  assert.equal(lines[5], '0', 'no filter was loaded');
});

/** The ```js blocks of the README's "For tool authors" section. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## For tool authors');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test(`${who}: the README's examples for tool authors run as written`, () => {
  const examples = readmeExamples();
  assert.equal(examples.length, 3);
  const dir = mkdtempSync(join(work, 'examples-'));
  chmodSync(dir, 0o777);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPO_ROOT, join(dir, 'node_modules', 'tsjail'));
  const outputs = examples.map((code, i) => {
    writeFileSync(join(dir, `example${i}.mjs`), code);
    return spawnSync(process.execPath, [join(dir, `example${i}.mjs`)], { encoding: 'utf8', cwd: dir, timeout: 60000 });
  });
  const [spawned, ran, loaded] = outputs;
  assert.deepEqual([spawned!.status, spawned!.stdout, spawned!.stderr], [0, 'HELLO FROM THE JAIL\nexit 0\n', '']);
  assert.equal(ran!.status, 0, ran!.stderr);
  assert.match(ran!.stdout, /^0 done\nunshare -> EPERM: allow\('unshare'/);
  assert.deepEqual([loaded!.status, loaded!.stdout], [0, 'EPERM\n']);
  assert.equal(existsSync('/tmp/made-after-loadFilter'), false);
});

test('rootless: this file\'s tests pass as nobody', { skip: (ROOTLESS || process.getuid?.() !== 0) && 'runs as root, once' }, () => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--test', __filename], {
    encoding: 'utf8', cwd: work, timeout: 300000, env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), TSJAIL_LIBRARY_ROOTLESS: '1', HOME: '/nonexistent' },
  });
  assert.equal(r.status, 0, `${r.stdout.split('\n').filter((l) => /^not ok|Error|expected|actual/.test(l)).join('\n')}\n${r.stderr}`);
  assert.match(r.stdout, /# fail 0/);
});

test.after(() => rmSync(work, { recursive: true, force: true }));
