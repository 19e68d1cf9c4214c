// Red-team attacks on what landed for issues #11-#13 (the filter cache, the library, the CLI's
// conventions) that SUCCEEDED when written; each test fails while its hole is open. Root and
// rootless (setpriv to uid 65534 with a HOME of its own).
// - A cache hit evaluated the policy module only when the first denial was explained, while the
//   jail ran: the jail rewrote an import in its workspace (rootless: with openat2, which no write
//   stop sees), made a refused call, and tsjail ran the jail's code outside the jail.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: the jail's /tmp is its own.
const base = mkdtempSync('/var/tmp/tsjail-red3-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

/** A workspace (the jail's working directory, writable) and a home of its own, owned by the runner. */
function place(who: 'root' | 'rootless'): { work: string; home: string; env: NodeJS.ProcessEnv; argv: (args: string[]) => string[] } {
  const dir = mkdtempSync(join(base, `${who}-`));
  const work = join(dir, 'work'), home = join(dir, 'home');
  mkdirSync(work);
  mkdirSync(home);
  chmodSync(dir, 0o755);
  const own = (): void => {
    if (who !== 'rootless') return;
    for (const d of [dir, work, home]) chownSync(d, 65534, 65534);
    for (const f of readdirSync(work)) chownSync(join(work, f), 65534, 65534);
  };
  own();
  return {
    work, home,
    env: { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache'), TSJAIL_DEBUG: 'cache' },
    argv: (args) => { own(); return [...(who === 'rootless' ? NOBODY : []), process.execPath, BIN, ...args]; },
  };
}

for (const who of ['root', 'rootless'] as const) {
  test(`${who}: a cache hit never evaluates the policy's imports once the jail runs (the jail may have rewritten them)`, async () => {
    const p = place(who);
    const pwned = join(p.home, 'pwned');
    writeFileSync(join(p.work, 'settings.js'), "exports.greeting = 'hi';\n");
    writeFileSync(join(p.work, 'policy.ts'), `import { definePolicy, errno } from 'tsjail';
import { greeting } from './settings.js';
export default definePolicy({ default: 'allow', rules: [errno('EPERM', 'mkdir', 'mkdirat')], jail: { env: { GREETING: greeting } } });
`);
    const warm = p.argv(['run', '--policy', 'policy.ts', '--', 'true']);
    const first = spawnSync(warm[0]!, warm.slice(1), { cwd: p.work, env: p.env, encoding: 'utf8', timeout: 30000 });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /cache: miss: policy\.ts/);
    // The jail says it runs, waits (no call tsjail stops), then makes a refused call. Meanwhile its
    // workspace's import is rewritten, as the jail itself can (openat2 writes without a stop).
    const argv = p.argv(['run', '--policy', 'policy.ts', '--', 'perl', '-e', '$| = 1; print "ready\\n"; <STDIN>; mkdir "/tmp/d" or print "refused\\n";']);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: p.work, env: p.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const status = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout === 'ready\n') {
          writeFileSync(join(p.work, 'settings.js'), `require('fs').writeFileSync(${JSON.stringify(pwned)}, 'outside the jail'); exports.greeting = 'x';\n`);
          child.stdin.end('go\n');
        }
      });
      child.on('close', resolve);
    });
    assert.equal(status, 0, stderr);
    assert.match(stderr, /cache: hit: the filter for policy\.ts/);
    assert.equal(stdout, 'ready\nrefused\n', 'the filter is the policy\'s');
    assert.match(stderr, /mkdir\(.*-> EPERM\n\s+decided by: a rule \(policy\.ts:3\)/, 'the denial is explained from the cached rules');
    assert.equal(existsSync(pwned), false, 'tsjail evaluated code the jail wrote, outside the jail');
  });
}

test('a name the jail chose cannot drive the terminal or forge a line of tsjail\'s: control characters in reports are shown as \\xNN', () => {
  const ws = mkdtempSync(join('/var/tmp', 'tsjail-print-'));
  try {
    // A refused write of a path holding an OSC title sequence, a cursor move and a forged line.
    const evil = "x\\033]0;pwned\\007\\033[2A\\ntsjail: all clear\\342\\200\\256";
    const r = spawnSync(process.execPath, [BIN, 'run', '--', 'sh', '-c', `touch "/etc/$(printf '${evil}')" 2>/dev/null; echo $?`], { encoding: 'utf8', cwd: ws, input: '' });
    assert.equal(r.stdout, '1\n', r.stderr);
    assert.doesNotMatch(r.stderr, /[\x1b\x07\u202e]/, 'no raw escape, bell or bidi override reaches the terminal');
    assert.doesNotMatch(r.stderr, /^tsjail: all clear/m, 'no forged line');
    assert.match(r.stderr, /\/etc\/x\\x1b\]0;pwned\\x07\\x1b\[2A\\x0atsjail: all clear\\u202e/);
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});
