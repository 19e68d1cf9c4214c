// The CLI behaves as a Unix tool is expected to: --version, --help everywhere, did-you-mean,
// - for stdin/stdout, exit 2 for usage errors, denial reports that can leave stderr, errors that
// name their value, a man page and completions generated from the same table as --help.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { COMMANDS, commandDoc } from '../src/cli/reference';
import { jailFlagSpec, RUN_FLAGS } from '../src/cli/run';
import { LEARN_FLAGS } from '../src/cli/learn';
import { TOOL_FLAGS } from '../src/cli/tools';
import { EXPLAIN_FS_FLAGS } from '../src/cli/explainFs';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-conv-'));
chmodSync(work, 0o755);
/** Where the rootless runs may write. */
const writable = join(work, 'writable');
mkdirSync(writable);
chmodSync(writable, 0o777);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const WHO = [{ name: 'root', asNobody: false }, { name: 'rootless', asNobody: true }] as const;

function tsjail(args: string[], opts: { asNobody?: boolean; input?: string; cwd?: string } = {}): SpawnSyncReturns<string> {
  const argv = [...(opts.asNobody ? NOBODY : []), process.execPath, BIN, ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: opts.cwd ?? work, input: opts.input ?? '', timeout: 60000 });
}
const NO_TRACE = /\n\s+at |internal error/;

test('--version prints package.json\'s version', () => {
  const r = tsjail(['--version']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `tsjail ${JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version}\n`);
});

test('--help, -h and tsjail help CMD on every subcommand give the same text; -h after run\'s command is the command\'s', () => {
  for (const c of COMMANDS) {
    const help = tsjail(['help', c.name]);
    assert.equal(help.status, 0, c.name);
    assert.match(help.stdout, new RegExp(`^usage: tsjail ${c.name}`));
    if (c.flags.length === 0) continue;
    for (const flag of ['--help', '-h']) {
      const r = tsjail([c.name, flag]);
      assert.equal(r.status, 0, `${c.name} ${flag}: ${r.stderr}`);
      assert.equal(r.stdout, help.stdout, `${c.name} ${flag}`);
    }
  }
  assert.equal(tsjail(['run', '-n', '--help']).stdout, tsjail(['help', 'run']).stdout);
  const passed = tsjail(['run', '--', 'sh', '-c', 'echo "$1"', 'sh', '-h']);
  assert.equal(passed.status, 0, passed.stderr);
  assert.equal(passed.stdout, '-h\n');
  const top = tsjail(['--help']);
  assert.equal(top.status, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c.name} `, 'm'));
  const typo = tsjail(['help', 'compiel']);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /no command 'compiel' — did you mean 'compile'\?/);
});

/** The flags a parser accepts, beside --help (main's). */
const parserFlags: Record<string, readonly string[]> = {
  run: Object.keys(jailFlagSpec(RUN_FLAGS)),
  learn: Object.keys(jailFlagSpec(LEARN_FLAGS)),
  ...Object.fromEntries(Object.entries(TOOL_FLAGS).map(([name, spec]) => [name, Object.keys(spec)])),
  explain: [...new Set([...Object.keys(TOOL_FLAGS.explain), ...Object.keys(EXPLAIN_FS_FLAGS)])],
};

test('the reference table names exactly the flags each parser accepts', () => {
  for (const [name, flags] of Object.entries(parserFlags)) {
    const documented = commandDoc(name)!.flags.flatMap((f) => f.names).filter((n) => n !== '--help' && n !== '-h');
    assert.deepEqual([...documented].sort(), [...flags].sort(), name);
  }
});

/** Every flag --help prints: the option lines' names. */
function helpFlags(name: string): string[] {
  const text = tsjail([name, '--help']).stdout.split('\noptions:\n')[1] ?? '';
  return text.split('\n').filter((l) => /^ {2}-/.test(l)).flatMap((l) => l.trim().split(/\s+(?=[^-,])/)[0]!.split(', '));
}

/** The words bash offers for a flag of `name`: its case's last compgen -W list. */
function bashFlags(script: string, name: string): string[] {
  const section = script.split(`\n    ${name})\n`)[1]!.split('\n      ;;')[0]!;
  return [...section.matchAll(/compgen -W "([^"]*)"/g)].at(-1)![1]!.split(' ');
}

test('the man page and the bash and zsh completions name every flag --help names', () => {
  const man = tsjail(['man']).stdout;
  const bash = tsjail(['completion', 'bash']).stdout;
  const zsh = tsjail(['completion', 'zsh']).stdout;
  let count = 0;
  for (const c of COMMANDS.filter((x) => x.flags.length)) {
    const flags = helpFlags(c.name);
    assert.ok(flags.includes('--help') && flags.length >= c.flags.length, `${c.name}: ${flags.join(' ')}`);
    for (const flag of flags) {
      count++;
      assert.ok(man.includes(`\\fB${flag.replace(/-/g, '\\-')}\\fR`), `man: ${c.name} ${flag}`);
      assert.ok(bashFlags(bash, c.name).includes(flag), `bash: ${c.name} ${flag}`);
      assert.ok(zsh.includes(`'*${flag}`), `zsh: ${flag}`);
    }
  }
  assert.ok(count > 100, `${count} flags`);
  // Each is what its reader accepts.
  const page = join(work, 'tsjail.1');
  writeFileSync(page, man);
  assert.equal(execFileSync('groff', ['-man', '-ww', '-z', page], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), '');
  assert.equal(spawnSync('bash', ['-n'], { input: bash }).status, 0);
  assert.equal(spawnSync('zsh', ['-n'], { input: zsh }).status, 0);
  const complete = (words: string[]): string[] => execFileSync('bash', ['-c', `eval "$(cat)"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tsjail; printf '%s\\n' "\${COMPREPLY[@]}"`], { input: bash, encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.deepEqual(complete(['tsjail', 'run', '--allow-n']), ['--allow-net']);
  assert.deepEqual(complete(['tsjail', 'run', '--net', '']), ['none', 'loopback', 'host']);
  assert.deepEqual(complete(['tsjail', 'comp']), ['compile', 'completion']);
  assert.ok(complete(['tsjail', 'run', '--', 'tru']).includes('true'), 'after --: commands');
  assert.equal(tsjail(['completion', 'fish']).status, 2);
});

test('usage errors exit 2 with a did-you-mean, and nothing runs; tsjail\'s own failures stay 125; the command\'s status passes through', () => {
  const marker = join(work, 'ran');
  const cases: [string[], RegExp][] = [
    [['run', '--alow-net', '1.2.3.4', '--', 'touch', marker], /unknown option '--alow-net' — did you mean '--allow-net'\?\n\(tsjail run --help lists the options\)/],
    [['learn', '--exactt', '--', 'touch', marker], /unknown option '--exactt' — did you mean '--exact'\?/],
    [['run', '--rlimit', 'nofile', '--', 'touch', marker], /bad --rlimit 'nofile': expected NAME=N/],
    [['run', '--policy'], /option requires argument: --policy/],
    [['run'], /no command given/],
    [['learn', '--format', 'yaml', '--', 'touch', marker], /unknown --format 'yaml': use ts or json/],
    [['run', '--policy-format', 'json', '--', 'touch', marker], /--policy-format json names the format of a policy read from stdin: use it with --policy -/],
    [['compile', '--polcy', 'x.ts'], /unknown option '--polcy' — did you mean '--policy'\?/],
    [['compile'], /compile needs --policy FILE/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /no command given/],
  ];
  for (const [args, message] of cases) {
    const r = tsjail(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, NO_TRACE);
    assert.ok(!existsSync(marker), `${args.join(' ')}: nothing ran`);
  }
  assert.equal(tsjail(['run', '-d', '/nonexistent', '--', 'true']).status, 125);
  assert.equal(tsjail(['run', '--', 'sh', '-c', 'exit 7']).status, 7);
  assert.equal(tsjail(['run', '--', 'sh', '-c', 'kill -TERM $$']).status, 128 + 15);
});

const DENY_MKDIR = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] });
const DENY_MKDIR_TS = "import { definePolicy, allow, errno } from 'tsjail';\nexport default definePolicy({ default: allow(), rules: [errno('EACCES', 'mkdir', 'mkdirat')] });\n";

for (const who of WHO) {
  test(`${who.name}: --policy - reads the policy from stdin (JSON sniffed, TypeScript by --policy-format or default); errors name <stdin>`, () => {
    const mk = ['--', 'sh', '-c', 'mkdir d 2>&1; echo $?'];
    const json = tsjail(['run', '--policy', '-', ...mk], { asNobody: who.asNobody, input: DENY_MKDIR });
    assert.equal(json.status, 0, json.stderr);
    assert.match(json.stdout, /Operation not permitted\n1\n$/);
    assert.match(json.stderr, /mkdir.*-> EPERM\n\s+decided by: rule "syscalls\[0\]" \(<stdin>:1\)/);
    for (const format of [[], ['--policy-format', 'ts']]) {
      const ts = tsjail(['run', '--policy', '-', ...format, ...mk], { asNobody: who.asNobody, input: DENY_MKDIR_TS });
      assert.equal(ts.status, 0, ts.stderr);
      assert.match(ts.stdout, /Permission denied\n1\n$/, format.join(' '));
    }
    const bad = tsjail(['run', '--policy', '-', '--', 'true'], { asNobody: who.asNobody, input: "import { definePolicy, allow } from 'tsjail';\nexport default definePolicy({ default: allow(), rules: [allow('opena')] });\n" });
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /<stdin>.*unknown syscall 'opena'/);
    assert.doesNotMatch(bad.stderr, NO_TRACE);
    const wrong = tsjail(['run', '--policy', '-', '--policy-format', 'json', '--', 'true'], { asNobody: who.asNobody, input: DENY_MKDIR_TS });
    assert.equal(wrong.status, 125);
    assert.match(wrong.stderr, /<stdin>:1:1: invalid JSON: unexpected .i./);
    const unknown = tsjail(['run', '--policy', '-', '--policy-format', 'yaml', '--', 'true'], { asNobody: who.asNobody, input: DENY_MKDIR });
    assert.equal(unknown.status, 125);
    assert.match(unknown.stderr, /unknown --policy-format 'yaml' \(use one of ts, js, json, systemd\)/);
  });
}

test('-o - writes to stdout: compile and learn; compile --policy - reads stdin', () => {
  const file = join(work, 'deny.json');
  writeFileSync(file, DENY_MKDIR);
  const viaFile = execFileSync(process.execPath, [BIN, 'compile', '--policy', file, '--arch', 'x86_64', '-o', join(work, 'deny.bpf')]);
  assert.equal(viaFile.length, 0);
  const piped = spawnSync(process.execPath, [BIN, 'compile', '--policy', '-', '--arch', 'x86_64', '-o', '-'], { input: DENY_MKDIR });
  assert.equal(piped.status, 0, String(piped.stderr));
  assert.deepEqual(piped.stdout, readFileSync(join(work, 'deny.bpf')));
  assert.ok(!existsSync(join(work, '-')));
  const learned = tsjail(['learn', '-o', '-', '--', 'true']);
  assert.equal(learned.status, 0, learned.stderr);
  assert.match(learned.stdout, /export default definePolicy\(/);
  assert.ok(!existsSync(join(work, '-')));
});

/** tsjail run with a Node pipe as fd 3 (what child_process gives: a socketpair); resolves with what came on each. */
function withFd3(args: string[], asNobody: boolean, closeReader = false): Promise<{ code: number | null; stderr: string; fd3: string }> {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let fd3 = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  if (closeReader) (child.stdio[3] as import('node:net').Socket).destroy();
  else (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => { fd3 += d; });
  return new Promise((done) => child.on('close', (code) => done({ code, stderr, fd3 })));
}

for (const who of WHO) {
  test(`${who.name}: --quiet keeps denials off stderr; --report-fd 3 and --report /dev/fd/3 write them to an inherited Node pipe; --json-status-fd is checked as --report-fd is`, async () => {
    const mk = ['--deny', 'mkdir,mkdirat', '--', 'sh', '-c', 'mkdir d 2>/dev/null; exit 3'];
    for (const report of [['--report-fd', '3'], ['--report', '/dev/fd/3']]) {
      for (const quiet of [[], ['--quiet'], ['-q']]) {
        const r = await withFd3([...quiet, ...report, ...mk], who.asNobody);
        assert.equal(r.code, 3, r.stderr);
        const lines = r.fd3.trim().split('\n').map((l) => JSON.parse(l) as { syscall?: string; summary?: unknown[] });
        assert.equal(lines[0]!.syscall, 'mkdir', `${report.join(' ')}: ${r.fd3}`);
        assert.ok(lines.at(-1)!.summary, 'the summary line comes last');
        if (quiet.length) assert.equal(r.stderr, '', quiet.join(' '));
        else assert.match(r.stderr, /mkdir\(.*-> EPERM/);
      }
    }
    const file = join(writable, `quiet-${who.name}.jsonl`);
    const toFile = tsjail(['run', '--quiet', '--report', file, ...mk], { asNobody: who.asNobody });
    assert.equal(toFile.stderr, '');
    assert.match(readFileSync(file, 'utf8'), /"syscall":"mkdir"/);
    const closed = tsjail(['run', '--report-fd', '200', ...mk], { asNobody: who.asNobody });
    assert.equal(closed.status, 125);
    assert.match(closed.stderr, /^tsjail: cannot write --report-fd 200: fd 200 is not open/);
    // Given only stdio, fds 4 to 9 are Node's own (epoll, eventfd, self-pipes): never a report's.
    for (const fd of ['4', '5', '6', '7', '8', '9']) {
      const own = tsjail(['run', '--report-fd', fd, ...mk], { asNobody: who.asNobody });
      assert.equal(own.status, 125, `${fd}: ${own.stderr}`);
      assert.match(own.stderr, new RegExp(`^tsjail: cannot write --report-fd ${fd}: fd ${fd} is tsjail's own \\((anon_inode|pipe):`));
    }
    const readOnly = spawnSync('sh', ['-c', `exec ${who.asNobody ? NOBODY.join(' ') : ''} "$0" "$@" 3</dev/null`, process.execPath, BIN, 'run', '--report-fd', '3', ...mk], { encoding: 'utf8', cwd: work });
    assert.equal(readOnly.status, 125);
    assert.match(readOnly.stderr, /^tsjail: cannot write --report-fd 3: fd 3 is open only for reading/);
    // A reader that went away ends the report, with a message, not the jail.
    const gone = await withFd3(['--report-fd', '3', ...mk], who.asNobody, true);
    assert.equal(gone.code, 3, gone.stderr);
    assert.match(gone.stderr, /cannot write the denial report \(fd 3\): EPIPE; no further records are written/);
    assert.doesNotMatch(gone.stderr, NO_TRACE);
    const bad = tsjail(['run', '--report-fd', '-1', ...mk], { asNobody: who.asNobody });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad --report-fd '-1'/);
    // --json-status-fd is checked the same way, before anything runs.
    for (const [fd, why] of [['200', /fd 200 is not open/], ['7', /fd 7 is tsjail's own/]] as const) {
      const status = tsjail(['run', '--json-status-fd', fd, '--', 'sh', '-c', 'echo ran'], { asNobody: who.asNobody });
      assert.equal(status.status, 125, status.stderr);
      assert.match(status.stderr, new RegExp(`^tsjail: cannot write --json-status-fd ${fd}: ${why.source}`));
      assert.doesNotMatch(status.stdout, /ran/);
    }
    const statusRead = spawnSync('sh', ['-c', `exec ${who.asNobody ? NOBODY.join(' ') : ''} "$0" "$@" 3</dev/null`, process.execPath, BIN, 'run', '--json-status-fd', '3', '--', 'true'], { encoding: 'utf8', cwd: work });
    assert.equal(statusRead.status, 125);
    assert.match(statusRead.stderr, /^tsjail: cannot write --json-status-fd 3: fd 3 is open only for reading/);
    const badStatus = tsjail(['run', '--json-status-fd', '-1', '--', 'true'], { asNobody: who.asNobody });
    assert.equal(badStatus.status, 2);
    assert.match(badStatus.stderr, /bad --json-status-fd '-1'/);
  });
}

for (const who of WHO) {
  test(`${who.name}: errors name the path or value they are about, never a stack trace`, () => {
    const bundle = join(work, `bundle-${who.name}`);
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { terminal: true, args: ['/bin/true'], cwd: '/' }, root: { path: 'rootfs' } }));
    chmodSync(bundle, 0o755);
    const cases: [string[], RegExp, number][] = [
      [['run', '-d', '/nonexistent', '--', 'true'], /^tsjail: cannot change directory to \/nonexistent \(-d, in the jail\): ENOENT/, 125],
      [['run', '--bind', '/nonexistent:/x', '--', 'true'], /^tsjail: cannot bind \/nonexistent: it does not exist/, 125],
      [['learn', '-o', '/nonexistent-dir/p.ts', '--', 'true'], /^tsjail: cannot write \/nonexistent-dir\/p\.ts: ENOENT \(choose another -o\)/, 125],
      [['run', '--bundle', bundle], new RegExp(`^tsjail: ${bundle}/config\\.json uses what tsjail does not support: process\\.terminal \\(true\\)`), 125],
      [['compile', '--policy', '@builtin', '-o', '/nonexistent-dir/f.bpf'], /^tsjail: cannot write -o \/nonexistent-dir\/f\.bpf: ENOENT \(choose another -o, or -o - for stdout\)/, 1],
      [['run', '--policy', '/nonexistent.ts', '--', 'true'], /^tsjail: cannot read policy file \/nonexistent\.ts: ENOENT/, 125],
      [['run', '--memory', '12 parsecs', '--', 'true'], /^tsjail: bad size '12 parsecs'/, 2],
    ];
    if (who.asNobody) cases.push([['learn', '-o', '/root/p.ts', '--', 'true'], /^tsjail: cannot write \/root\/p\.ts: EACCES \(choose another -o\)/, 125]);
    for (const [args, message, status] of cases) {
      const r = tsjail(args, { asNobody: who.asNobody });
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, NO_TRACE);
    }
  });
}

for (const who of WHO) {
  test(`${who.name}: --pidfile holds the command's pid as the host sees it (not its init's), and is gone after`, async () => {
    const pidfile = join(writable, `cmd-${who.name}.pid`);
    const argv = [...(who.asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--pidfile', pidfile, '--', 'sh', '-c', 'echo started; read line; echo "$line"'];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((started) => child.stdout!.on('data', (d) => { out += d; if (out.includes('started')) started(); }));
    // The pidfile is written once the command has exec'd, a moment after it may print.
    let pid = '';
    while (!(pid = existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : '').endsWith('\n')) await new Promise((r) => setImmediate(r));
    const cmdline = readFileSync(`/proc/${pid.trim()}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline.slice(0, 2), ['sh', '-c'], `pid ${pid}: ${cmdline.join(' ')}`);
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid.trim()}/status`, 'utf8'))![1]!.split(/\s+/);
    assert.equal(nspid[0], pid.trim());
    assert.notEqual(nspid.at(-1), '1', 'not the jail\'s init');
    child.stdin!.end('bye\n');
    const code = await new Promise((done) => child.on('close', done));
    assert.equal(code, 0);
    assert.equal(out, 'started\nbye\n');
    assert.ok(!existsSync(pidfile));
  });
}

/** Runs argv on a pty of the test's (the caller's terminal), types `line` at the first prompt; what came back. */
const PTY_DRIVER = String.raw`
import json, os, select, struct, subprocess, sys, fcntl, termios
master, slave = os.openpty()
caller = os.ttyname(slave)
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 111, 0, 0))
def own_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(json.loads(sys.argv[1]), stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal, cwd=sys.argv[3])
os.close(slave)
out, sent, resized = b'', False, False
while True:
    r, _, _ = select.select([master], [], [], 60)
    if not r: break
    try: d = os.read(master, 4096)
    except OSError: break
    if not d: break
    out += d
    if not sent and (out.endswith(b'$ ') or out.endswith(b'# ')):
        os.write(master, sys.argv[2].encode() + b'\r'); sent = True
    if b'winch-ready' in out and not resized:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', 44, 122, 0, 0)); resized = True
print(json.dumps({'caller': caller, 'rdev': os.stat(caller).st_rdev, 'dev': os.stat(caller).st_dev, 'out': out.decode(errors='replace'), 'status': p.wait()}))
`;

for (const who of WHO) {
  test(`${who.name}: --tty gives the jail a pty of its own, in its own devpts: prompt, output, job control, window size and SIGWINCH, tty; no fd of the caller's terminal, TIOCSTI refused`, () => {
    const line = [
      'echo hi-$((40+2))',
      'for f in 0 1 2; do readlink /proc/self/fd/$f; done',
      'echo tty_nr $(cut -d" " -f7 /proc/self/stat)',
      'echo "tty is $(tty)"',
      'echo "devpts $(stat -L -c %d /proc/self/fd/0) holds $(ls /dev/pts | tr "\\n" " ")"',
      'stty size',
      "/usr/bin/python3 -c 'import fcntl,termios; fcntl.ioctl(0, termios.TIOCSTI, b\"x\")' 2>&1 | tail -1",
      'sleep 100 & jobs; kill %1',
      // The caller's terminal resized: tsjail sizes the jail's, whose foreground program gets SIGWINCH (written with os.write: a print in the handler could re-enter stdout's buffer).
      "/usr/bin/python3 -c 'import os,signal,sys,time; signal.signal(signal.SIGWINCH, lambda *a: (os.write(1, (\"winched %d %d\\n\" % tuple(os.get_terminal_size(0))).encode()), os._exit(0))); print(\"winch\" + \"-ready\", flush=True); time.sleep(20)'",
      'exit 3',
    ].join('; ');
    const argv = [...(who.asNobody ? NOBODY : []), process.execPath, BIN, 'run', '--tty', '--', 'sh', '-i'];
    const driver = join(work, 'pty-driver.py');
    writeFileSync(driver, PTY_DRIVER);
    const r = JSON.parse(execFileSync('python3', [driver, JSON.stringify(argv), line, writable], { encoding: 'utf8', timeout: 90000 })) as { caller: string; rdev: number; dev: number; out: string; status: number };
    assert.equal(r.status, 3, r.out);
    assert.match(r.out, /^[$#] echo hi/, 'the prompt, then what was typed, echoed by the jail\'s terminal');
    assert.match(r.out, /\r\nhi-42\r\n/);
    const fds = [...r.out.matchAll(/^(\/dev\/pts\/\d+)\r$/gm)].map((m) => m[1]!);
    assert.equal(fds.length, 3, r.out);
    assert.equal(new Set(fds).size, 1, 'stdin, stdout and stderr are the jail\'s terminal');
    // The pair is made in the jail's own devpts instance: its slave is /dev/pts/0 there (ttyname
    // finds it), the only one, on a filesystem other than the caller's terminal's.
    assert.deepEqual(fds, ['/dev/pts/0', '/dev/pts/0', '/dev/pts/0']);
    assert.match(r.out, /\r\ntty is \/dev\/pts\/0\r\n/);
    const devpts = /devpts (\d+) holds (.*)\r/.exec(r.out)!;
    assert.notEqual(Number(devpts[1]), r.dev, 'not the caller\'s devpts');
    assert.equal(devpts[2]!.trim(), '0 ptmx');
    const ttyNr = Number(/tty_nr (\d+)/.exec(r.out)![1]);
    assert.equal(ttyNr, 136 << 8, 'its controlling terminal is the jail\'s pts 0');
    assert.match(r.out, /\r\n33 111\r\n/, 'stty size: the caller\'s window size');
    assert.match(r.out, /PermissionError: \[Errno 1\] Operation not permitted/, 'TIOCSTI is refused');
    assert.match(r.out, /\[1\] \+ Running +sleep 100/, 'job control');
    assert.match(r.out, /\r\nwinched 122 44\r\n/, 'SIGWINCH with the caller\'s new size');
  });
}
