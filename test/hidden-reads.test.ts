// A read of a hidden path is reported once per path (stderr, and --report's file record with
// access "read"), through fanotify marks on the masks tsjail made (hiddenReads.ts); other reads,
// /dev/null's included, are not. Each runs as root and rootless (setpriv to uid 65534 with a HOME
// of its own).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: the jail's /tmp is its own.
const base = mkdtempSync('/var/tmp/tsjail-hidden-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

interface Who { readonly name: string; readonly nobody: boolean; readonly home: string; readonly proj: string }

function person(name: string, nobody: boolean): Who {
  const home = join(base, `${name}-home`), proj = join(home, 'proj');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(proj);
  writeFileSync(join(home, '.ssh/id_rsa'), 'PRIVATE KEY\n', { mode: 0o644 });
  writeFileSync(join(home, '.netrc'), 'machine example.com password hunter2\n', { mode: 0o644 });
  execFileSync('mkfifo', [join(home, '.git-credentials')]);
  if (nobody) execFileSync('chown', ['-R', '65534:65534', home]);
  return { name, nobody, home, proj };
}

const WHO = [person('root', false), person('nobody', true)];

function sh(who: Who, script: string, args: readonly string[] = []): SpawnSyncReturns<string> {
  const argv = [...(who.nobody ? NOBODY : []), process.execPath, BIN, 'run', ...args, '--', 'sh', '-c', script];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: who.proj, input: '', timeout: 60000, env: { ...process.env, HOME: who.home } });
}

/** The report lines of hidden reads on stderr, by path. */
function reported(stderr: string): string[] {
  return [...stderr.matchAll(/^tsjail: (?:the jail|(?:host )?pid \d+) open\((.*)\) -> hidden$/gm)].map((m) => m[1]!);
}

for (const who of WHO) {
  test(`${who.name}: ls ~/.ssh is reported once, with the flag that shows it; ~/.ssh still lists empty`, () => {
    const r = sh(who, 'ls -A ~/.ssh; ls ~/.ssh; echo done');
    assert.equal(r.stdout, 'done\n', r.stderr);
    assert.deepEqual(reported(r.stderr), [join(who.home, '.ssh')]);
    assert.match(r.stderr, new RegExp(`decided by: ${join(who.home, '.ssh')} is hidden \\(default: SSH keys`));
    assert.match(r.stderr, new RegExp(`to allow exactly this: --show ${join(who.home, '.ssh')} `));
  });

  test(`${who.name}: cat ~/.ssh/id_rsa: a name inside a hidden directory is not there and not reported; hidden as a file itself it is`, () => {
    const inside = sh(who, 'cat ~/.ssh/id_rsa; echo rc=$?');
    assert.equal(inside.stdout, 'rc=1\n');
    assert.match(inside.stderr, /id_rsa: No such file or directory/);
    assert.deepEqual(reported(inside.stderr), []);
    const file = sh(who, 'echo "[$(cat ~/.ssh/id_rsa)]"', ['--show', '~/.ssh', '--hide', '~/.ssh/id_rsa']);
    assert.equal(file.stdout, '[]\n', file.stderr);
    assert.deepEqual(reported(file.stderr), [join(who.home, '.ssh/id_rsa')]);
    assert.match(file.stderr, new RegExp(`to allow exactly this: drop --hide ${join(who.home, '.ssh/id_rsa')}`));
  });

  test(`${who.name}: a hidden file read through a symlink the jail made in its workspace is reported as the hidden path`, () => {
    const r = sh(who, 'ln -s ~/.netrc leak && echo "[$(cat leak)]"; rm -f leak');
    assert.equal(r.stdout, '[]\n', r.stderr);
    assert.deepEqual(reported(r.stderr), [join(who.home, '.netrc')]);
  });

  test(`${who.name}: 10000 opens of one hidden file: one report, the count kept in the summary`, () => {
    const report = join(who.home, 'flood.jsonl');
    const r = sh(who, 'i=0; while [ $i -lt 10000 ]; do read x < ~/.netrc; i=$((i+1)); done; echo $i', ['--report', report]);
    assert.equal(r.stdout, '10000\n', r.stderr);
    assert.deepEqual(reported(r.stderr), [join(who.home, '.netrc')]);
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.filter((l) => (l.file as { access?: string } | undefined)?.access === 'read').length, 1);
    const summary = lines.at(-1)!.summary as { syscall: string; count: number }[];
    const entry = summary.find((s) => s.syscall === 'open')!;
    // The kernel merges repeated events it has not handed over yet: at least one, never more than the opens.
    assert.ok(entry.count >= 1 && entry.count <= 10000, String(entry.count));
  });

  test(`${who.name}: a hidden FIFO reads as empty without blocking, and is reported`, () => {
    const r = sh(who, 'echo "[$(cat ~/.git-credentials)]"');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '[]\n');
    assert.deepEqual(reported(r.stderr), [join(who.home, '.git-credentials')]);
  });

  test(`${who.name}: opens of /dev/null and of files that are not hidden are not reported`, () => {
    const r = sh(who, 'cat /dev/null; echo x > /dev/null; cat /etc/hostname > /dev/null; ls ~ > /dev/null; echo done');
    assert.equal(r.stdout, 'done\n', r.stderr);
    assert.deepEqual(reported(r.stderr), []);
  });

  test(`${who.name}: --show undoes the hide: the file is read, nothing is reported`, () => {
    const r = sh(who, 'cat ~/.netrc', ['--show', '~/.netrc']);
    assert.equal(r.stdout, 'machine example.com password hunter2\n', r.stderr);
    assert.deepEqual(reported(r.stderr), []);
  });

  test(`${who.name}: the command holds neither the fanotify group nor the map pipe`, () => {
    // 0-2 are stdio, 3 is ls's own directory.
    const r = sh(who, 'ls /proc/self/fd/ | tr "\\n" " "; ls -l /proc/self/fd/ | grep -c fanotify; cat ~/.netrc');
    assert.equal(r.stdout, '0 1 2 3 0\n', r.stderr);
    assert.deepEqual(reported(r.stderr), [join(who.home, '.netrc')]);
  });

  test(`${who.name}: the --report record of a hidden read`, () => {
    const report = join(who.home, 'record.jsonl');
    const r = sh(who, 'cat ~/.netrc', ['--report', report]);
    assert.equal(r.status, 0, r.stderr);
    const record = JSON.parse(readFileSync(report, 'utf8').trim().split('\n')[0]!) as Record<string, unknown>;
    const path = join(who.home, '.netrc');
    assert.deepEqual(Object.keys(record).sort(), ['abi', 'action', 'args', 'decidedBy', 'file', 'jailPid', 'mode', 'nr', 'pid', 'rule', 'suggestion', 'syscall', 'time']);
    assert.deepEqual(
      { syscall: record.syscall, action: record.action, args: record.args, rule: record.rule, nr: record.nr, mode: record.mode, file: record.file },
      { syscall: 'open', action: 'hidden', args: [], rule: null, nr: -1, mode: 'enforce', file: { path, rule: path, access: 'read' } },
    );
    assert.match(record.suggestion as string, new RegExp(`^--show ${path} \\(passwords`));
    assert.equal(typeof record.pid, 'number');
  });
}
