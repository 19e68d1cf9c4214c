// Presets (--preset untrusted|agent, a policy's `extends`): the settings they make, the settings
// that would undo them refused by name, and real jails as root and rootless: a secret unreadable,
// a write outside the workspace refused, servers on 127.0.0.2 (allowed by agent when listed) and
// 127.0.0.3 (never) counting what reaches them, the environment without a TOKEN variable.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { countingServers, runAsync, type Run } from './helpers/servers';
import { JailError } from '../src/jail/errors';
import { applyPreset, lookupPreset, PRESET_OPTIONS, resolverRules } from '../src/jail/presets';
import { definePolicy } from '../src/policy/dsl';
import type { JailOptions } from '../src/policy/jailSettings';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Not under /tmp: the jail's /tmp is its own.
const base = mkdtempSync('/var/tmp/tsjail-presets-');
chmodSync(base, 0o755);
after(() => rmSync(base, { recursive: true, force: true }));

// ---- pure ----

const ctx = { home: join(base, 'pure-home'), cwd: join(base, 'pure-home/proj'), root: false };
mkdirSync(ctx.cwd, { recursive: true });
const check = (o: JailOptions, name: 'untrusted' | 'agent' = 'untrusted', log: (m: string) => void = () => undefined): JailOptions =>
  applyPreset(name, { ...PRESET_OPTIONS, ...o }, log, ctx);

test('an unknown preset is an error with the nearest name, in a flag and in a policy\'s extends', () => {
  assert.equal(lookupPreset('agent'), 'agent');
  assert.throws(() => lookupPreset('untrsted'), (e: Error) => e instanceof JailError && /--preset 'untrsted': no such preset — did you mean 'untrusted'\?/.test(e.message));
  assert.throws(() => lookupPreset('sandbox'), /no such preset \(presets: untrusted, agent\)/);
  assert.throws(() => definePolicy({ extends: 'agnet' as never, rules: [] }), /extends: 'agnet' is no preset — did you mean 'agent'\?/);
  assert.equal(definePolicy({ extends: 'agent', rules: [] }).extends, 'agent');
});

test('settings that would undo a preset are errors naming each conflict', () => {
  const conflicts: [JailOptions, RegExp][] = [
    [{ hostFs: true }, /--host-fs \(jail\.hostFs\) would share the host's files read-write/],
    [{ insecure: true }, /--insecure/],
    [{ inheritEnv: true }, /--inherit-env \(jail\.inheritEnv\) would pass tokens/],
    [{ noLimits: true }, /--no-limits/],
    [{ log: true }, /--log \(jail\.log\) lets every refused call run/],
    [{ late: true }, /--late/],
    [{ hostIds: true }, /--host-ids/],
    [{ dev: false }, /--host-dev/],
    [{ root: '/' }, /a root of their own/],
    [{ capKeep: ['CAP_NET_RAW'] }, /kept capabilities/],
    [{ binds: [{ src: '/var', dst: '/mnt', readonly: false }] }, /a writable --bind/],
    [{ fsFlags: [{ show: '~/.ssh' }] }, /--show ~\/\.ssh \(jail\.fs show\) would un-hide a secret/],
    [{ fsFlags: [{ rw: ctx.home }] }, new RegExp(`--rw ${ctx.home} would make your home writable`)],
    [{ fs: [{ rw: '/' }] }, /policy rw \/ would make the whole host writable/],
    [{ net: 'host' }, /--net host/],
    [{ net: 'loopback' }, /--net loopback .* reaches every service on the host's loopback/],
    [{ net: { allow: ['127.0.0.2:80'] } }, /untrusted has no network; --preset agent takes an allowlist/],
  ];
  for (const [o, why] of conflicts) {
    assert.throws(() => check(o), (e: Error) => e instanceof JailError && /^--preset untrusted cannot keep its promise/.test(e.message) && why.test(e.message), JSON.stringify(o));
  }
  assert.throws(() => check({ hostFs: true, inheritEnv: true }), /these settings:\n {2}--host-fs.*\n {2}--inherit-env/);
  assert.throws(() => check({ net: 'loopback' }, 'agent'), /e\.g\. --allow-net 127\.0\.0\.1:8080/);
  // Stricter or named by the user: fine (said loudly where it widens).
  const said: string[] = [];
  assert.deepEqual(check({ network: false }, 'untrusted', (m) => said.push(m)), { network: false, net: 'none' });
  assert.match(said.pop()!, /^WARNING: --preset untrusted: -n: a network of its own .* unix socket addresses on the host .* are not refused$/);
  assert.deepEqual(check({ fsFlags: [{ rw: join(base, 'elsewhere') }, { ro: ctx.cwd }] }).fsFlags?.length, 2);
  check({ keepEnv: ['GITHUB_TOKEN'], allow: ['ptrace'] }, 'untrusted', (m) => said.push(m));
  assert.deepEqual(said, [
    'WARNING: --preset untrusted: --keep-env GITHUB_TOKEN passes this variable from your environment',
    'WARNING: --preset untrusted: --allow ptrace allows this syscall beyond the built-in policy',
  ]);
});

test('agent: an allowlist passes; with names, the host\'s resolvers are added; with none, a note says nothing is reachable', () => {
  const said: string[] = [];
  assert.deepEqual(check({ net: { allow: ['127.0.0.2:80'] } }, 'agent', (m) => said.push(m)).net, { allow: ['127.0.0.2:80'] });
  check({}, 'agent', (m) => said.push(m));
  assert.match(said.join('\n'), /--preset agent with no allowlist: nothing is reachable/);
  const conf = join(base, 'resolv.conf');
  writeFileSync(conf, '# comment\nnameserver 10.1.2.3\nnameserver fe80::1%eth0\nnameserver bogus\nsearch x\n');
  assert.deepEqual(resolverRules(conf), ['10.1.2.3:53', '[fe80::1]:53']);
  assert.deepEqual(resolverRules(join(base, 'missing')), []);
  const withNames = check({ net: { allow: ['registry.npmjs.org:443'] } }, 'agent', (m) => said.push(m)).net as { allow: string[] };
  assert.deepEqual(withNames.allow, ['registry.npmjs.org:443', ...resolverRules().filter((r) => r !== 'registry.npmjs.org:443')]);
});

// ---- real jails ----

interface Who { readonly name: string; readonly nobody: boolean; readonly home: string; readonly proj: string; readonly outside: string }

function person(name: string, nobody: boolean): Who {
  const home = join(base, `${name}-home`), proj = join(home, 'proj'), outside = join(base, `${name}-outside`);
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(proj);
  mkdirSync(outside);
  writeFileSync(join(home, '.ssh/id_ed25519'), 'PRIVATE KEY\n', { mode: 0o644 });
  // Writable by all: only the jail's rules may stop the write.
  chmodSync(outside, 0o777);
  if (nobody) execFileSync('chown', ['-R', '65534:65534', home]);
  return { name, nobody, home, proj, outside };
}

const WHO = [person('root', false), person('nobody', true)];

/** tsjail run as `who`, with a TOKEN in its environment. */
const tsjail = (who: Who, args: readonly string[]): Promise<Run> =>
  runAsync([...(who.nobody ? NOBODY : []), process.execPath, BIN, 'run', ...args], { cwd: who.proj, env: { ...process.env, HOME: who.home, TOKEN: 'tok-secret-123' } });

const PORT = 45000 + (process.pid % 1000);
let servers: Awaited<ReturnType<typeof countingServers>>;
const reached = (): { allowed: number; refused: number } => ({ allowed: servers.counts['127.0.0.2']!, refused: servers.counts['127.0.0.3']! });
before(async () => { servers = await countingServers(['127.0.0.2', '127.0.0.3'], PORT); });
after(() => servers.close());

/** In the jail: the secret, a write outside and in the workspace, /tmp, the environment, connects to both servers. */
const probe = (who: Who): string[] => ['--', '/usr/bin/python3', '-c', `
import os, socket
def tryit(what, f):
    try: f(); print(what, 'ok')
    except OSError as e: print(what, e.strerror)
def conn(h):
    s = socket.create_connection((h, ${PORT}), timeout=10); s.recv(3); s.close()
tryit('secret', lambda: open('${who.home}/.ssh/id_ed25519').read())
tryit('outside', lambda: open('${who.outside}/planted', 'w').write('x'))
tryit('workspace', lambda: open('made.txt', 'w').write('x'))
tryit('tmp', lambda: open(os.environ.get('TMPDIR', '/tmp') + '/x', 'w').write('x'))
print('TOKEN' in os.environ, 'HOME' in os.environ)
tryit('127.0.0.2', lambda: conn('127.0.0.2'))
tryit('127.0.0.3', lambda: conn('127.0.0.3'))
`];

/** Under the mount layer a secret is not there and the host is a read-only mount; under Landlock alone both are EACCES. */
const expected = (allowed: boolean, landlockOnly = false): string => [
  `secret ${landlockOnly ? 'Permission denied' : 'No such file or directory'}`, `outside ${landlockOnly ? 'Permission denied' : 'Read-only file system'}`, 'workspace ok', 'tmp ok', 'False True',
  `127.0.0.2 ${allowed ? 'ok' : 'Operation not permitted'}`, '127.0.0.3 Operation not permitted', '',
].join('\n');

for (const who of WHO) {
  test(`${who.name}: --preset untrusted: secret hidden, host read-only, workspace and /tmp writable, no TOKEN, no network`, async () => {
    const before = reached();
    const r = await tsjail(who, ['--preset', 'untrusted', ...probe(who)]);
    assert.equal(r.stdout, expected(false), r.stderr);
    assert.equal(r.status, 0);
    assert.deepEqual(reached(), before, 'no server was reached');
    assert.ok(!existsSync(join(who.outside, 'planted')));
    assert.ok(existsSync(join(who.proj, 'made.txt')));
    assert.match(r.stderr, new RegExp(`connect\\(127\\.0\\.0\\.2:${PORT}/tcp\\) -> EPERM\\n.*network rules \\(none\\): no rule allows it\\n.*--allow-net 127\\.0\\.0\\.2:${PORT}/tcp`));
  });

  test(`${who.name}: --preset agent --allow-net 127.0.0.2:PORT: that server is reached, 127.0.0.3 is not; the rest as untrusted`, async () => {
    const before = reached();
    const r = await tsjail(who, ['--preset', 'agent', '--allow-net', `127.0.0.2:${PORT}`, ...probe(who)]);
    assert.equal(r.stdout, expected(true), r.stderr);
    assert.deepEqual(reached(), { allowed: before.allowed + 1, refused: before.refused });
    assert.ok(!existsSync(join(who.outside, 'planted')));
  });

  test(`${who.name}: --preset agent --no-namespaces: the same promise by Landlock and the supervisor (a refused read or write is EACCES there)`, async () => {
    const before = reached();
    const r = await tsjail(who, ['--preset', 'agent', '--no-namespaces', '--allow-net', `127.0.0.2:${PORT}`, ...probe(who)]);
    assert.equal(r.stdout, expected(true, true), r.stderr);
    assert.deepEqual(reached(), { allowed: before.allowed + 1, refused: before.refused });
    assert.ok(!existsSync(join(who.outside, 'planted')));
    assert.match(r.stderr, /holds: {3}files, by Landlock/);
  });

  test(`${who.name}: a policy file's extends: 'agent' with its own allowlist; its settings and flags that undo the preset are refused`, async () => {
    const policy = join(who.proj, 'agent-policy.ts');
    writeFileSync(policy, `import { definePolicy } from 'tsjail';\nexport default definePolicy({ extends: 'agent', default: 'allow', rules: [], jail: { net: { allow: ['127.0.0.2:${PORT}/tcp'] } } });\n`);
    const before = reached();
    const r = await tsjail(who, ['--policy', policy, ...probe(who)]);
    assert.equal(r.stdout, expected(true), r.stderr);
    assert.deepEqual(reached(), { allowed: before.allowed + 1, refused: before.refused });
    const flag = await tsjail(who, ['--policy', policy, '--inherit-env', '--', 'true']);
    assert.equal(flag.status, 125);
    assert.match(flag.stderr, /--preset agent cannot keep its promise with this setting:\n {2}--inherit-env/);
    const weakened = join(who.proj, 'weak-policy.ts');
    writeFileSync(weakened, `import { definePolicy } from 'tsjail';\nexport default definePolicy({ extends: 'untrusted', default: 'allow', rules: [], jail: { hostFs: true, net: 'host' } });\n`);
    const own = await tsjail(who, ['--policy', weakened, '--', 'true']);
    assert.equal(own.status, 125);
    assert.match(own.stderr, /--preset untrusted cannot keep its promise with these settings:\n {2}--host-fs \(jail\.hostFs\).*\n {2}--net host/);
    // The flag names the preset over the policy's: untrusted refuses the policy's allowlist.
    const stricter = await tsjail(who, ['--preset', 'untrusted', '--policy', policy, '--', 'true']);
    assert.equal(stricter.status, 125);
    assert.match(stricter.stderr, /untrusted has no network/);
  });

  test(`${who.name}: --preset with a conflicting flag runs nothing (exit 125), also with --insecure; a symlink to home given as --rw is refused`, async () => {
    for (const args of [['--host-fs'], ['--insecure'], ['--net', 'host'], ['--rw', who.home], ['--rw', '/']]) {
      const marker = join(who.outside, `ran-${args.join('')}`.replace(/\W/g, '_'));
      const r = await tsjail(who, ['--preset', 'untrusted', ...args, '--', 'sh', '-c', `echo > ${marker}`]);
      assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /--preset untrusted cannot keep its promise/);
      assert.ok(!existsSync(marker), `${args.join(' ')} ran the command`);
    }
    const link = join(who.proj, 'homelink');
    if (!existsSync(link)) symlinkSync(who.home, link);
    const linked = await tsjail(who, ['--preset', 'untrusted', '--rw', link, '--', 'sh', '-c', `echo > ${link}/.bashrc`]);
    assert.equal(linked.status, 125, linked.stderr);
    assert.match(linked.stderr, /leads through a symlink/);
    assert.ok(!existsSync(join(who.home, '.bashrc')));
    const unknown = await tsjail(who, ['--preset', 'agnet', '--', 'true']);
    assert.equal(unknown.status, 125);
    assert.match(unknown.stderr, /did you mean 'agent'/);
  });
}

test('the README documents each preset', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.match(readme, /### Presets/);
  for (const name of ['untrusted', 'agent']) assert.ok(readme.includes(`--preset ${name}`), name);
});
