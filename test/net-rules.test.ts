// Network rules: the rule syntax and decisions (pure), then real jails (root, rootless, and with
// --host-ids, which keeps the host's network namespace as a jail without namespaces would)
// whose connects and sends tsjail decides on its own copy of the address: servers on 127.0.0.2
// (allowed) and 127.0.0.3 (refused) count what reaches them.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { JailError } from '../src/jail/errors';
import {
  allowFlagFor, canonicalAddress, combineNet, decideNet, netFromFlags, parseIPv6, parseNetRule, resolveNet, tcpConnectPorts,
} from '../src/jail/netRules';
import { controlMessages, inetTarget, NameBook } from '../src/jail/netSupervisor';
import { dnsQueryName } from '../src/jail/dnsMessages';

// ---- rules, pure ----

test('rule syntax: addresses, blocks, names, wildcards, ports, ranges and protocols', () => {
  assert.deepEqual(parseNetRule('127.0.0.2:8080'), { text: '127.0.0.2:8080', target: { kind: 'block', family: 4, base: 0x7f000002n, prefix: 32 }, ports: { from: 8080, to: 8080 } });
  assert.deepEqual(parseNetRule('10.0.0.0/8:1000-2000/udp').ports, { from: 1000, to: 2000 });
  assert.equal(parseNetRule('10.0.0.0/8:1000-2000/udp').protocol, 'udp');
  assert.deepEqual(parseNetRule('[::1]:53/udp').target, { kind: 'block', family: 6, base: 1n, prefix: 128 });
  assert.deepEqual(parseNetRule('fd00::/8').target, { kind: 'block', family: 6, base: 0xfdn << 120n, prefix: 8 });
  assert.deepEqual(parseNetRule('[::ffff:127.0.0.0/104]').target, { kind: 'block', family: 4, base: 0x7f000000n, prefix: 8 }, 'a v4-mapped block is its IPv4 block');
  assert.deepEqual(parseNetRule('Registry.NPMjs.org:443/tcp').target, { kind: 'name', name: 'registry.npmjs.org' });
  assert.deepEqual(parseNetRule('*.example.com').target, { kind: 'wildcard', suffix: 'example.com' });
  assert.deepEqual(parseNetRule(':443').target, { kind: 'any' });
  assert.equal(parseIPv6('::ffff:1.2.3.4'), (0xffffn << 32n) | 0x01020304n);
});

test('bad rules are errors that name the rule and show the syntax', () => {
  for (const [text, why] of [
    ['', /it is empty/], ['127.0.0.2:0', /ports go from 1 to 65535/], ['127.0.0.2:90-80', /low to high/], ['1.2.3.4:http', /not a port/],
    ['10.0.0.1/8', /bits set past its \/8 \(did you mean 10\.0\.0\.0\/8\?\)/], ['1.2.3.4/33', /prefix length/], ['300.1.1.1', /not an IPv4 address/],
    ['[::1', /needs its \]/], ['[::1]x', /after \] comes :PORT/], ['a*.example.com', /leading \*\./], ['exa mple.com', /not an address or a host name/],
    ['1.2.3.4/sctp', /\/tcp or \/udp, not 'sctp'/], ['*', /use --net host/],
  ] as const) {
    assert.throws(() => parseNetRule(text), (e: Error) => e instanceof JailError && why.test(e.message) && e.message.includes(`'${text}'`) && /HOST\[:PORT/.test(e.message), text);
  }
  assert.throws(() => resolveNet({ allow: 'x' } as never), /expected 'none', 'loopback', 'host' or \{ allow/);
  assert.throws(() => netFromFlags('all', []), /bad --net 'all'/);
  assert.throws(() => netFromFlags('none', ['1.2.3.4']), /contradict/);
});

test('decisions: blocks, ports, protocols, v4-mapped addresses and names the rules resolved', () => {
  const rules = ['127.0.0.2:8080', '10.0.0.0/8:53/udp', '[2001:db8::]/32', 'pkg.test:443/tcp', '*.cdn.test'].map(parseNetRule);
  const none = (): string[] => [];
  const v4 = (a: string, port: number, protocol: 'tcp' | 'udp' | 'icmp' = 'tcp') => ({ family: 4 as const, address: BigInt(a.split('.').reduce((x, p) => x * 256 + Number(p), 0)), port, protocol });
  assert.equal(decideNet(rules, v4('127.0.0.2', 8080), none).rule?.text, '127.0.0.2:8080');
  assert.equal(decideNet(rules, v4('127.0.0.2', 8081), none).allowed, false);
  assert.equal(decideNet(rules, v4('10.9.8.7', 53, 'udp'), none).allowed, true);
  assert.equal(decideNet(rules, v4('10.9.8.7', 53, 'tcp'), none).allowed, false, '/udp does not allow TCP');
  assert.equal(decideNet(rules, v4('127.0.0.2', 8080, 'icmp'), none).allowed, false, 'a ping socket matches only rules for every port');
  const mapped = canonicalAddress(6, (0xffffn << 32n) | 0x7f000003n);
  assert.deepEqual(mapped, { family: 4, address: 0x7f000003n }, '::ffff:127.0.0.3 is decided as 127.0.0.3');
  assert.equal(decideNet(rules, { family: 6, address: parseIPv6('2001:db8::5')!, port: 1, protocol: 'udp' }, none).allowed, true);
  const names = (_f: 4 | 6, a: bigint): string[] => (a === 0x0a000063n ? ['pkg.test'] : a === 0x0a000064n ? ['img.cdn.test'] : []);
  assert.deepEqual(decideNet(rules, v4('10.0.0.99', 443), names), { allowed: true, rule: rules[3], name: 'pkg.test' });
  assert.equal(decideNet(rules, v4('10.0.0.99', 80), names).allowed, false);
  assert.equal(decideNet(rules, v4('10.0.0.100', 80), names).name, 'img.cdn.test');
  assert.equal(allowFlagFor(v4('127.0.0.3', 8080)), '--allow-net 127.0.0.3:8080/tcp');
  assert.equal(allowFlagFor({ family: 6, address: 1n, port: 53, protocol: 'udp' }), '--allow-net [::1]:53/udp');
});

test('Landlock ports: the TCP ports when every TCP rule names them, else undefined', () => {
  assert.deepEqual(tcpConnectPorts(['1.2.3.4:443', 'x.test:80-90/tcp', 'y.test:85-100', '10.0.0.0/8/udp'].map(parseNetRule)), [{ from: 80, to: 100 }, { from: 443, to: 443 }]);
  assert.equal(tcpConnectPorts(['1.2.3.4:443', '5.6.7.8'].map(parseNetRule)), undefined);
  assert.deepEqual(tcpConnectPorts([]), []);
});

test('flags and the policy file: --allow-net adds to --net loopback and to the policy\'s allowlist', () => {
  assert.deepEqual(netFromFlags('loopback', ['1.2.3.4:80']), { allow: ['127.0.0.0/8', '[::1]', '1.2.3.4:80'] });
  assert.deepEqual(combineNet({ allow: ['a.test'] }, { allow: ['b.test'] }, true), { allow: ['a.test', 'b.test'] });
  assert.equal(combineNet({ allow: ['a.test'] }, 'host', false), 'host');
  assert.deepEqual(resolveNet('loopback'), { kind: 'allowlist', rules: ['127.0.0.0/8', '[::1]'].map(parseNetRule) });
});

test('the copy is read as the kernel reads it: AF_UNSPEC, short addresses, 0.0.0.0, control messages, DNS queries', () => {
  const sin = (family: number, port: number, addr: number[]): Buffer => Buffer.from([family, 0, port >> 8, port & 255, ...addr, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(inetTarget(2, sin(0, 0, [0, 0, 0, 0]), 'connect', 'tcp'), 'none', 'connect(AF_UNSPEC) disconnects');
  assert.deepEqual(inetTarget(2, sin(0, 53, [1, 2, 3, 4]), 'sendto', 'udp'), { dest: { family: 4, address: 0x01020304n, port: 53, protocol: 'udp' } }, 'IPv4 UDP takes AF_UNSPEC as AF_INET');
  assert.deepEqual(inetTarget(2, sin(2, 80, [1, 2, 3, 4]).subarray(0, 8), 'connect', 'tcp'), { errno: 22 });
  assert.deepEqual(inetTarget(2, sin(1, 80, [1, 2, 3, 4]), 'connect', 'tcp'), { errno: 97 });
  assert.deepEqual(inetTarget(2, sin(2, 80, [0, 0, 0, 0]), 'connect', 'tcp'), { dest: { family: 4, address: 0x7f000001n, port: 80, protocol: 'tcp' } }, '0.0.0.0 is the local host');
  const cmsg = Buffer.alloc(40);
  cmsg.writeBigUInt64LE(20n, 0); cmsg.writeInt32LE(1, 8); cmsg.writeInt32LE(1, 12);
  cmsg.writeBigUInt64LE(16n, 24); cmsg.writeInt32LE(0, 32); cmsg.writeInt32LE(8, 36);
  assert.deepEqual(controlMessages(cmsg), [{ level: 1, type: 1 }, { level: 0, type: 8 }]);
  cmsg.writeBigUInt64LE(4096n, 0);
  assert.equal(controlMessages(cmsg), undefined);
  const query = Buffer.from('1234010000010000000000000377777707657861 6d706c6503636f6d0000010001'.replace(/ /g, ''), 'hex');
  assert.equal(dnsQueryName(query), 'www.example.com');
  assert.equal(dnsQueryName(Buffer.from('garbage')), undefined);
});

test('names: resolved at start, again for an unknown address, and wildcards from the jail\'s DNS queries', async () => {
  let now = 0;
  const answers: Record<string, string[]> = { 'pkg.test': ['10.0.0.1'], 'a.cdn.test': ['10.0.0.2', '::ffff:10.0.0.3'] };
  const asked: string[] = [];
  const book = new NameBook(['pkg.test', '*.cdn.test'].map(parseNetRule), (name) => {
    asked.push(name);
    return Promise.resolve((answers[name] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  }, () => now);
  book.start();
  await book.settle();
  assert.deepEqual(book.namesOf(4, 0x0a000001n), ['pkg.test']);
  book.sawQuery('other.test');
  book.sawQuery('A.cdn.test');
  await book.settle();
  assert.deepEqual(asked, ['pkg.test', 'a.cdn.test'], 'a query no rule could allow is not resolved');
  assert.deepEqual(book.namesOf(4, 0x0a000003n), ['a.cdn.test'], 'a v4-mapped answer counts as IPv4');
  answers['pkg.test'] = ['10.0.0.9'];
  await book.settle();
  assert.deepEqual(book.namesOf(4, 0x0a000009n), [], 'no re-resolving within REFRESH_MS');
  now += 5000;
  await book.settle();
  assert.deepEqual(book.namesOf(4, 0x0a000009n), ['pkg.test']);
  now += 400_000;
  assert.deepEqual(book.namesOf(4, 0x0a000001n), [], 'addresses expire');
});

// ---- real jails ----

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-netrules-'));
chmodSync(work, 0o755);
const RACE = join(work, 'net-race');
execFileSync('cc', ['-O2', '-pthread', '-o', RACE, join(REPO_ROOT, 'test/helpers/net-race.c')]);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const PY = '/usr/bin/python3';

interface Run { status: number | null; stdout: string; stderr: string }
/** tsjail run, asynchronously: the servers live in this process and must keep serving meanwhile. */
function tsjail(args: string[], asNobody = false): Promise<Run> {
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...args];
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** What reached each server: TCP connections and UDP datagrams, on 127.0.0.2 (allowed) and 127.0.0.3 (refused). */
const reached = { allowedTcp: 0, refusedTcp: 0, allowedUdp: 0, refusedUdp: 0 };
const PORT = 47000 + (process.pid % 1000);
const closers: (() => void)[] = [];

before(async () => {
  const listen = (host: string, onTcp: () => void, onUdp: () => void, http: boolean): Promise<void> => new Promise((resolve) => {
    const udp = createSocket('udp4').on('message', onUdp);
    udp.bind(PORT, host);
    const server = http
      ? createHttpServer((_req, res) => { res.end(`hello from ${host}\n`); }).on('connection', onTcp)
      : createServer((s) => { onTcp(); s.destroy(); });
    server.listen(PORT, host, () => resolve());
    closers.push(() => { udp.close(); server.close(); });
  });
  await listen('127.0.0.2', () => reached.allowedTcp++, () => reached.allowedUdp++, true);
  await listen('127.0.0.3', () => reached.refusedTcp++, () => reached.refusedUdp++, true);
});
after(() => { for (const c of closers) c(); });

const MODES = [
  { name: 'as root', args: [] as string[], nobody: false },
  { name: 'rootless', args: [] as string[], nobody: true },
  { name: 'as root with --host-ids', args: ['--host-ids'], nobody: false },
  { name: 'rootless with --host-ids', args: ['--host-ids'], nobody: true },
];

for (const mode of MODES) {
  test(`${mode.name}: an allowed connect works, a refused one is refused and explained (stderr and --report)`, async () => {
    const report = join(work, `report-${mode.name.replace(/\W+/g, '-')}.json`);
    writeFileSync(report, '');
    chmodSync(report, 0o666);
    const before = reached.refusedTcp;
    const url = (h: string): string => `http://${h}:${PORT}/`;
    const r = await tsjail([...mode.args, '--report', report, '--allow-net', `127.0.0.2:${PORT}`, '--', 'sh', '-c',
      `curl -sS ${url('127.0.0.2')}; curl -sS ${url('127.0.0.3')}; echo curl=$?`], mode.nobody);
    assert.match(r.stdout, /^hello from 127\.0\.0\.2\ncurl=7\n$/, r.stderr);
    assert.ok(r.stderr.includes(`connect(127.0.0.3:${PORT}/tcp) -> EPERM\n        decided by: network rules (127.0.0.2:${PORT}): no rule allows it\n        to allow exactly this: --allow-net 127.0.0.3:${PORT}/tcp`), r.stderr);
    assert.equal(reached.refusedTcp, before);
    // (glibc's resolver also tries nscd's unix socket: refused and reported too, see the unix test.)
    const first = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((rec) => rec.net?.address === '127.0.0.3');
    assert.deepEqual(first.net, { call: 'connect', destination: `127.0.0.3:${PORT}/tcp`, protocol: 'tcp', address: '127.0.0.3', port: PORT, name: null });
    assert.equal(first.suggestion, `--allow-net 127.0.0.3:${PORT}/tcp`);
  });

  test(`${mode.name}: a thread racing the sockaddr never reaches the refused address (connect, sendto, sendmsg, sendmmsg)`, async () => {
    for (const call of ['connect', 'sendto', 'sendmsg', 'sendmmsg']) {
      const tcp = reached.allowedTcp, udp = reached.allowedUdp;
      const r = await tsjail([...mode.args, '--allow-net', `127.0.0.2:${PORT}`, '--', RACE, call, '127.0.0.2', '127.0.0.3', String(PORT), '400'], mode.nobody);
      const m = /^ok (\d+) refused (\d+) other (\d+)\n$/.exec(r.stdout);
      assert.ok(m, `${call}: ${r.stdout}${r.stderr}`);
      assert.equal(Number(m[1]) + Number(m[2]), 400, `${call}: every call allowed or refused with EPERM: ${r.stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(reached.refusedTcp + reached.refusedUdp, 0, `${call}: the refused server was reached`);
      assert.ok((call === 'connect' ? reached.allowedTcp - tcp : reached.allowedUdp - udp) > 0, `${call}: the allowed server was reached`);
    }
  });
}

test('unconnected UDP: sendto and sendmsg to the allowed server arrive, to the refused one fail with EPERM', async () => {
  const before = reached.allowedUdp;
  const script = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for host in ('127.0.0.2', '127.0.0.3'):
    for how in ('sendto', 'sendmsg'):
        try:
            s.sendto(b'x', (host, ${PORT})) if how == 'sendto' else s.sendmsg([b'x'], [], 0, (host, ${PORT}))
            print(host, how, 'sent')
        except OSError as e:
            print(host, how, e.strerror)
`;
  const r = await tsjail(['--allow-net', `127.0.0.2:${PORT}/udp`, '--', PY, '-c', script]);
  assert.equal(r.stdout, '127.0.0.2 sendto sent\n127.0.0.2 sendmsg sent\n127.0.0.3 sendto Operation not permitted\n127.0.0.3 sendmsg Operation not permitted\n', r.stderr);
  assert.match(r.stderr, new RegExp(`sendto\\(127\\.0\\.0\\.3:${PORT}/udp\\) -> EPERM`));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(reached.allowedUdp - before, 2);
  assert.equal(reached.refusedUdp, 0);
});

test('DNS: an allowed resolver is asked only for names the rules allow; other questions and other data to port 53 are refused', async () => {
  // A resolver on 127.0.0.2:53 (port 53 needs root: the test runs as root) that records each question.
  const questions: string[] = [];
  const dns = createSocket('udp4').on('message', (m) => questions.push(dnsQueryName(m) ?? 'not a query'));
  await new Promise<void>((resolve) => dns.bind(53, '127.0.0.2', () => resolve()));
  const script = `
import socket, struct
def query(name):
    return struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\\0\\0\\1\\0\\1'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(('127.0.0.2', 53))
for what, send in (('good sendto', lambda: s.sendto(query('pkg.good.test'), ('127.0.0.2', 53))),
                   ('evil sendto', lambda: s.sendto(query('secret.evil.test'), ('127.0.0.2', 53))),
                   ('evil sendmsg', lambda: c.sendmsg([query('x.evil.test')])),
                   ('raw sendto', lambda: s.sendto(b'not dns at all, just data', ('127.0.0.2', 53)))):
    try:
        send(); print(what, 'sent')
    except OSError as e:
        print(what, e.strerror)
`;
  try {
    const r = await tsjail(['--allow-net', '127.0.0.2:53/udp', '--allow-net', '*.good.test:443', '--', PY, '-c', script]);
    assert.equal(r.stdout, 'good sendto sent\nevil sendto Operation not permitted\nevil sendmsg Operation not permitted\nraw sendto Operation not permitted\n', r.stderr);
    assert.match(r.stderr, /sendto\(DNS query for secret\.evil\.test to 127\.0\.0\.2:53\/udp\) -> EPERM\n {8}decided by: network rules \([^)]*\): no rule names secret\.evil\.test\n {8}to allow exactly this: --allow-net secret\.evil\.test/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(questions, ['pkg.good.test']);
    // Rules without names: the resolver is a destination like any (nothing to check a question against).
    questions.length = 0;
    const plain = await tsjail(['--allow-net', '127.0.0.2:53/udp', '--', PY, '-c', script]);
    assert.match(plain.stdout, /^good sendto sent\nevil sendto sent\n/, plain.stderr);
  } finally {
    dns.close();
  }
});

test('--net loopback: the host\'s loopback only; --net none: a network of its own', async () => {
  const r = await tsjail(['--net', 'loopback', '--', 'sh', '-c', `curl -sS http://127.0.0.3:${PORT}/; curl -sS --connect-timeout 5 http://192.0.2.1/; echo curl=$?`], true);
  assert.match(r.stdout, /^hello from 127\.0\.0\.3\ncurl=7\n$/, r.stderr);
  assert.match(r.stderr, /connect\(192\.0\.2\.1:80\/tcp\) -> EPERM\n {8}decided by: network rules \(127\.0\.0\.0\/8, \[::1\]\)/);
  const none = await tsjail(['--net', 'none', '--', 'sh', '-c', `curl -sS http://127.0.0.3:${PORT}/; echo curl=$?`]);
  assert.match(none.stdout, /curl=7/, 'the host\'s 127.0.0.3 is not in a network of its own');
  assert.doesNotMatch(none.stderr, /EPERM/, 'nothing to refuse: the address is simply not there');
});

test('a name in the allowlist: its addresses are allowed, others are refused and named', async () => {
  const server = createHttpServer((_req, res) => res.end('hello from localhost\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await tsjail(['--allow-net', `localhost:${port}`, '--', 'sh', '-c', `curl -sS -4 http://localhost:${port}/; curl -sS http://127.0.0.2:${PORT}/; echo curl=$?`], true);
    assert.match(r.stdout, /^hello from localhost\ncurl=7\n$/, r.stderr);
    assert.match(r.stderr, new RegExp(`connect\\(127\\.0\\.0\\.2:${PORT}/tcp\\) -> EPERM\\n {8}decided by: network rules \\(localhost:${port}\\)`));
  } finally {
    server.close();
  }
});

test('side doors are closed while rules are active: io_uring, SCTP, MPTCP, packet sockets, IP source routes', async () => {
  const script = `
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
def res(f):
    try:
        f(); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
print('io_uring', errno.errorcode[ctypes.get_errno()] if libc.syscall(425, 1, ctypes.create_string_buffer(120)) < 0 else 'ok')
print('sctp', res(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)))
print('mptcp', res(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262)))
print('packet', res(lambda: socket.socket(17, socket.SOCK_DGRAM, 0)))
print('ip_options', res(lambda: socket.socket().setsockopt(0, 4, bytes([131, 7, 4, 127, 0, 0, 3, 0]))))
print('tcp', res(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 6)))
`;
  const r = await tsjail(['--allow-net', `127.0.0.2:${PORT}`, '--', PY, '-c', script], true);
  assert.equal(r.stdout, 'io_uring EPERM\nsctp EPERM\nmptcp EPERM\npacket EPERM\nip_options EPERM\ntcp ok\n', r.stderr);
});

test('unix sockets with rules active: socketpair sends work, SCM_RIGHTS passes the file, SCM_CREDENTIALS is refused, abstract names need a unix: rule', async () => {
  const script = `
import os, socket, struct
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
r, w = os.pipe(); os.write(w, b'through the fd')
socket.send_fds(a, [b'fds'], [r])
msg, fds, _, _ = socket.recv_fds(b, 100, 1)
print(msg.decode(), os.read(fds[0], 100).decode())
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind('\\0tsjail-net-test'); srv.listen(1)
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect('\\0tsjail-net-test'); print('abstract connected')
except OSError as e:
    print('abstract', e.strerror)
try:
    a.sendmsg([b'c'], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack('iII', os.getpid(), os.getuid(), os.getgid()))])
    print('creds sent')
except OSError as e:
    print('creds', e.strerror)
`;
  const r = await tsjail(['--allow-net', `127.0.0.2:${PORT}`, '--', PY, '-c', script], true);
  assert.equal(r.stdout, 'fds through the fd\nabstract Permission denied\ncreds Operation not permitted\n', r.stderr);
  assert.match(r.stderr, /connect\(unix socket @tsjail-net-test\) -> EACCES\n {8}decided by: an abstract unix socket is reached only by a unix:@NAME rule/);
  assert.match(r.stderr, /sendmsg\(SCM_CREDENTIALS \(tsjail sends for the jail: the kernel would check the ids claimed against tsjail's rights\)\) -> EPERM/);
  const allowed = await tsjail(['--allow-net', `127.0.0.2:${PORT}`, '--allow-net', 'unix:@tsjail-net-test', '--', PY, '-c', script], true);
  assert.match(allowed.stdout, /abstract connected\ncreds Operation not permitted/, allowed.stderr);
  const plain = await tsjail(['--host-fs', '--', PY, '-c', script], true);
  assert.match(plain.stdout, /abstract connected\ncreds sent/, 'without file or network rules unix sockets are the kernel\'s alone');
});

test('git clone over git:// from a local daemon through the allowlist', async () => {
  const repos = join(work, 'repos');
  mkdirSync(join(repos, 'src'), { recursive: true });
  const git = (args: string[], cwd: string): void => { execFileSync('git', args, { cwd, stdio: 'ignore' }); };
  git(['init', '-q', '-b', 'main'], join(repos, 'src'));
  writeFileSync(join(repos, 'src', 'README'), 'cloned through tsjail\n');
  git(['add', 'README'], join(repos, 'src'));
  git(['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'one'], join(repos, 'src'));
  const gitPort = PORT + 1;
  const daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${repos}`, '--listen=127.0.0.2', `--port=${gitPort}`, repos], { stdio: 'ignore' });
  try {
    const ready = Date.now() + 10000;
    while (Date.now() < ready) {
      const up = await new Promise<boolean>((resolve) => {
        const s = createServer().once('error', () => resolve(true)).listen(gitPort, '127.0.0.2', () => { s.close(); resolve(false); });
      });
      if (up) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const r = await tsjail(['--allow-net', `127.0.0.2:${gitPort}/tcp`, '--', 'sh', '-c',
      `cd "$(mktemp -d)" && git clone -q git://127.0.0.2:${gitPort}/src out && cat out/README; git clone -q git://127.0.0.3:${gitPort}/src other; echo git=$?`], true);
    assert.match(r.stdout, /^cloned through tsjail\ngit=128\n$/, r.stderr);
    assert.match(r.stderr, new RegExp(`connect\\(127\\.0\\.0\\.3:${gitPort}/tcp\\) -> EPERM`));
  } finally {
    daemon.kill();
  }
});

test('bad network settings stop tsjail before anything runs (exit 125)', async () => {
  const r = await tsjail(['--allow-net', '1.2.3.4:99999', '--', 'true']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /bad network rule '1\.2\.3\.4:99999': ports go from 1 to 65535/);
  const contradict = await tsjail(['-n', '--allow-net', '1.2.3.4', '--', 'true']);
  assert.equal(contradict.status, 125);
  assert.match(contradict.stderr, /--no-network gives the jail a network of its own/);
  const insecure = await tsjail(['-I', '--net', 'loopback', '--', 'true']);
  assert.equal(insecure.status, 125);
  assert.match(insecure.stderr, /drop --insecure or the network rules/);
});

test('a policy file\'s jail.net: its allowlist applies, --allow-net adds to it, and the policy\'s own refusals still win', async () => {
  const policy = join(work, 'net-policy.ts');
  writeFileSync(policy, `import { definePolicy, allow, errno, ne } from 'tsjail';
export default definePolicy({ default: allow(), rules: [errno('EACCES', 'sendto', { addr: ne(0) })], jail: { net: { allow: ['127.0.0.2:${PORT}'] } } });
`);
  chmodSync(policy, 0o644);
  const curl = `curl -sS http://127.0.0.2:${PORT}/; curl -sS http://127.0.0.3:${PORT}/; echo curl=$?`;
  const r = await tsjail(['--policy', policy, '--', 'sh', '-c', curl], true);
  assert.match(r.stdout, /^hello from 127\.0\.0\.2\ncurl=7\n$/, r.stderr);
  const added = await tsjail(['--policy', policy, '--allow-net', `127.0.0.3:${PORT}`, '--', 'sh', '-c', curl], true);
  assert.match(added.stdout, /^hello from 127\.0\.0\.2\nhello from 127\.0\.0\.3\ncurl=0\n$/, added.stderr);
  const udp = await tsjail(['--policy', policy, '--', PY, '-c', `import socket
try: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.2', ${PORT}))
except OSError as e: print(e.strerror)`], true);
  assert.equal(udp.stdout, 'Permission denied\n', 'errno(EACCES) in the policy outranks the rules\' user_notif');
});

test('--log: a refused connect is reported as one that would be refused, and performed', async () => {
  const before = reached.refusedTcp;
  const r = await tsjail(['--log', '--allow-net', `127.0.0.2:${PORT}`, '--', 'curl', '-sS', `http://127.0.0.3:${PORT}/`], true);
  assert.equal(r.stdout, 'hello from 127.0.0.3\n', r.stderr);
  assert.match(r.stderr, new RegExp(`connect\\(127\\.0\\.0\\.3:${PORT}/tcp\\) -> would be EPERM \\(allowed: log mode\\)`));
  assert.equal(reached.refusedTcp, before + 1);
  reached.refusedTcp = before;
});
