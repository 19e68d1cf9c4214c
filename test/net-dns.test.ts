// DNS read on connected sockets and over TCP (dnsNetwork.ts, dnsProxy.ts): a fake resolver on
// 127.0.53.1:53 (UDP and TCP, port 53 needs root: the test runs as root) records each question
// and answers every A query with 127.0.53.10; the jail's /etc/resolv.conf names it. glibc
// (getent), a C probe that write()s on a connected socket, and DNS over TCP: allowed names are
// answered, others get REFUSED from tsjail and never reach the resolver.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';
import { answerAddresses, dnsQueryName, RCODE, statusReply } from '../src/jail/dnsMessages';
import { MAX_OUTSTANDING } from '../src/jail/dnsProxy';
import { countingServers, runAsync, type Run } from './helpers/servers';

const RESOLVER = '127.0.53.1';
/** A resolver that takes queries and never answers (the flood test). */
const SILENT = '127.0.53.2';
/** Where the fake resolver says every name is, and a TCP server there. */
const ANSWER = '127.0.53.10';
/** A UDP server no rule allows (the race test). */
const REFUSED = '127.0.53.20';
const PORT = 48000 + (process.pid % 1000);

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-dns-'));
chmodSync(work, 0o755);
execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', join(work, 'dns-probe'), join(REPO_ROOT, 'test/helpers/dns-probe.c')]);
writeFileSync(join(work, 'resolv.conf'), `nameserver ${RESOLVER}\n`);
chmodSync(join(work, 'resolv.conf'), 0o644);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** tsjail run in `work`, the jail's /etc/resolv.conf naming the fake resolver (without a mount namespace: the host's). */
function tsjail(args: string[], asNobody = false): Promise<Run> {
  const resolvConf = args.includes('--no-namespaces') ? [] : ['--ro-bind', `${join(work, 'resolv.conf')}:/etc/resolv.conf`];
  const argv = [...(asNobody ? NOBODY : []), process.execPath, BIN, 'run', ...resolvConf, ...args];
  return runAsync(argv, { cwd: work, env: process.env });
}

/** The questions each fake resolver was asked, in order. */
const asked: string[] = [];
let silentAsked = 0, refusedReached = 0, answerUdpReached = 0;
const closers: (() => void)[] = [];
let answerServer: Awaited<ReturnType<typeof countingServers>>;

/** The fake resolver's reply: an A query gets ANSWER, anything else no records. */
function fakeReply(query: Buffer): Buffer {
  const reply = statusReply(query, 0)!;
  if (reply.length < 16 || reply.readUInt16BE(reply.length - 4) !== 1) return reply;
  reply.writeUInt16BE(1, 6);
  const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ANSWER.split('.').map(Number)]);
  return Buffer.concat([reply, record]);
}

before(async () => {
  const udp = createSocket('udp4').on('message', (m, from) => { asked.push(dnsQueryName(m) ?? 'not a query'); udp.send(fakeReply(m), from.port, from.address); });
  await new Promise<void>((resolve) => udp.bind(53, RESOLVER, resolve));
  const tcp = createServer((c) => {
    let pending = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const q = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + q.length);
        asked.push(`tcp:${dnsQueryName(q) ?? 'not a query'}`);
        const r = fakeReply(q);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        c.write(Buffer.concat([len, r]));
      }
    });
  });
  await new Promise<void>((resolve) => tcp.listen(53, RESOLVER, resolve));
  const silent = createSocket('udp4').on('message', () => { silentAsked++; });
  await new Promise<void>((resolve) => silent.bind(53, SILENT, resolve));
  const refused = createSocket('udp4').on('message', () => { refusedReached++; });
  await new Promise<void>((resolve) => refused.bind(PORT, REFUSED, resolve));
  const answerUdp = createSocket('udp4').on('message', () => { answerUdpReached++; });
  await new Promise<void>((resolve) => answerUdp.bind(PORT, ANSWER, resolve));
  answerServer = await countingServers([ANSWER], PORT);
  closers.push(() => { udp.close(); tcp.close(); silent.close(); refused.close(); answerUdp.close(); answerServer.close(); });
});
after(() => { for (const c of closers) c(); });

const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 200));
const ALLOW = ['--allow-net', `${RESOLVER}:53`, '--allow-net', `*.good.test:${PORT}`, '--allow-net', 'allowed.test:443'];
const NOTE = /DNS queries sent with send\(\)\/write\(\) on a connected socket, and DNS over TCP, reach an allowed resolver unread/;

test('DNS messages: REFUSED keeps the id and question; A and AAAA records are read from an answer', () => {
  const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x03pkg\x04good\x04test\x00\x00\x01\x00\x01', 'latin1')]);
  const refused = statusReply(query, RCODE.refused)!;
  assert.equal(refused.readUInt16BE(0), 0x1234);
  assert.equal(refused[2], 0x81, 'QR and RD');
  assert.equal(refused[3]! & 0xf, 5);
  assert.equal(dnsQueryName(Buffer.from([...refused.subarray(0, 2), 0x01, 0x00, ...refused.subarray(4)])), 'pkg.good.test');
  assert.equal(statusReply(Buffer.from('short'), RCODE.refused), undefined);
  const aaaa = Buffer.from([0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]);
  const answer = Buffer.concat([fakeReply(query), aaaa]);
  answer.writeUInt16BE(2, 6);
  assert.deepEqual(answerAddresses(answer), [{ family: 4, address: ANSWER }, { family: 6, address: '2001:db8::1' }]);
  assert.deepEqual(answerAddresses(query), [], 'a query has no answers');
});

for (const mode of [{ name: 'as root', nobody: false }, { name: 'rootless', nobody: true }]) {
  test(`${mode.name}: glibc (connected UDP send) and write() on connected UDP and TCP sockets: allowed names answered, others REFUSED and reported, never asked`, async () => {
    const report = join(work, `report-${mode.nobody ? 'rootless' : 'root'}.json`);
    writeFileSync(report, '');
    chmodSync(report, 0o666);
    asked.length = 0;
    const r = await tsjail([...ALLOW, '--report', report, '--', 'sh', '-c',
      'getent hosts allowed.test; getent hosts secret.evil.test; echo getent=$?; ./dns-probe udp 127.0.53.1 pkg.good.test; ./dns-probe udp 127.0.53.1 x.evil.test; ./dns-probe tcp 127.0.53.1 allowed.test; ./dns-probe tcp 127.0.53.1 tcp.evil.test'], mode.nobody);
    assert.equal(r.stdout, `${ANSWER}     allowed.test\ngetent=2\nrcode 0 answers 1\nrcode 5 answers 0\nrcode 0 answers 1\nrcode 5 answers 0\n`, r.stderr);
    assert.doesNotMatch(r.stderr, NOTE, 'the DNS network is made');
    assert.match(r.stderr, /send\(DNS query for secret\.evil\.test to 127\.0\.53\.1:53\/udp\) -> REFUSED\n {8}decided by: network rules \([^)]*\): no rule names secret\.evil\.test\n {8}to allow exactly this: --allow-net secret\.evil\.test/);
    assert.match(r.stderr, /send\(DNS query for tcp\.evil\.test to 127\.0\.53\.1:53\/tcp\) -> REFUSED/);
    await settle();
    assert.deepEqual(asked.filter((q) => q.includes('evil')), [], `the resolver was asked: ${asked.join(', ')}`);
    assert.ok(asked.includes('allowed.test') && asked.includes('pkg.good.test') && asked.includes('tcp:allowed.test'), asked.join(', '));
    const records = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const evil = records.find((rec) => rec.net?.name === 'secret.evil.test');
    assert.deepEqual(evil?.net, { call: 'send', destination: 'DNS query for secret.evil.test to 127.0.53.1:53/udp', protocol: 'udp', address: RESOLVER, port: 53, name: 'secret.evil.test' });
    assert.equal(evil.action, 'REFUSED');
    assert.equal(evil.nr, -1, 'no syscall is named: the query was read by tsjail\'s server');
    assert.equal(evil.suggestion, '--allow-net secret.evil.test');
  });
}

test('the addresses in an allowed answer are the name\'s: a wildcard rule allows the address the jail\'s resolver gave', async () => {
  const before = answerServer.counts[ANSWER]!;
  const r = await tsjail([...ALLOW, '--', 'curl', '-sS', '--http0.9', `http://pkg.good.test:${PORT}/`]);
  assert.equal(r.stdout, 'hi\n', r.stderr);
  assert.equal(answerServer.counts[ANSWER]! - before, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /EPERM/, r.stderr);
});

test('a thread that reconnects or replaces the fd while tsjail puts the DNS network\'s socket in place never reaches a refused server', async () => {
  const r = await tsjail([...ALLOW, '--', './dns-probe', 'race', RESOLVER, REFUSED, String(PORT), '300']);
  assert.equal(r.stdout, 'rounds 300\n', r.stderr);
  await settle();
  assert.equal(refusedReached, 0);
});

test('the socket put in place keeps the options the resolver set before connecting (timeouts, IP_RECVERR, buffers, O_NONBLOCK)', async () => {
  const script = `
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 1, 500000))
s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
before = (s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16), s.getsockopt(socket.IPPROTO_IP, 11), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
s.setblocking(False)
s.connect(('${RESOLVER}', 53))
after = (s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16), s.getsockopt(socket.IPPROTO_IP, 11), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
print(before == after, s.getblocking(), s.getpeername()[1])
`;
  const r = await tsjail([...ALLOW, '--', 'python3', '-c', script]);
  assert.equal(r.stdout, 'True False 53\n', r.stderr);
});

test('a socket put in place stays in the DNS network: connected elsewhere after, even where the rules allow, it reaches nothing', async () => {
  const script = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('${RESOLVER}', 53))
s.connect(('${ANSWER}', ${PORT}))
s.send(b'x')
f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
f.connect(('${ANSWER}', ${PORT}))
f.send(b'y')
print('sent')
`;
  answerUdpReached = 0;
  const r = await tsjail([...ALLOW, '--allow-net', `${ANSWER}:${PORT}/udp`, '--', 'python3', '-c', script]);
  assert.equal(r.stdout, 'sent\n', r.stderr);
  await settle();
  assert.equal(answerUdpReached, 1, 'only the socket that never connected to the resolver reached the server');
});

test('a resolver address the host does not have, IPv4 and IPv6, is made local in the DNS network at once (no duplicate address detection to wait for)', async () => {
  const script = `
import socket, struct
q = struct.pack('>HHHHHH', 7, 0x0100, 1, 0, 0, 0) + b'\\x04evil\\x04test\\x00\\x00\\x01\\x00\\x01'
for family, host in ((socket.AF_INET, '192.0.2.53'), (socket.AF_INET6, '2001:db8::53')):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, 53))
    s.send(q)
    s.settimeout(3)
    r, peer = s.recvfrom(512)
    print(host, peer[0], peer[1], 'rcode', r[3] & 15)
`;
  const r = await tsjail([...ALLOW, '--allow-net', '192.0.2.53:53', '--allow-net', '[2001:db8::53]:53', '--', 'python3', '-c', script]);
  assert.equal(r.stdout, '192.0.2.53 192.0.2.53 53 rcode 5\n2001:db8::53 2001:db8::53 53 rcode 5\n', r.stderr);
});

test('a flood of queries to a resolver that never answers: at most MAX_OUTSTANDING are asked, the rest answered SERVFAIL', async () => {
  silentAsked = 0;
  const r = await tsjail(['--allow-net', `${SILENT}:53`, '--allow-net', 'allowed.test:443', '--', './dns-probe', 'flood', SILENT, 'allowed.test', '1000']);
  const m = /^answers (\d+) servfail (\d+)\n$/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  await settle();
  assert.ok(silentAsked > 0 && silentAsked <= MAX_OUTSTANDING, `the resolver was asked ${silentAsked} times`);
  assert.ok(Number(m[2]) > 0 && m[1] === m[2], `only SERVFAIL comes back: ${r.stdout}`);
});

test('--log: a query no rule allows is reported and asked nonetheless; a datagram shorter than a header is reported and dropped', async () => {
  asked.length = 0;
  const script = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('${RESOLVER}', 53))
s.send(b'x')
`;
  const r = await tsjail([...ALLOW, '--log', '--', 'sh', '-c', `./dns-probe udp ${RESOLVER} logged.evil.test; python3 -c "${script}"`]);
  assert.equal(r.stdout, 'rcode 0 answers 1\n', r.stderr);
  assert.match(r.stderr, /send\(DNS query for logged\.evil\.test to 127\.0\.53\.1:53\/udp\) -> would be REFUSED \(allowed: log mode\)/);
  assert.match(r.stderr, /send\(a message to 127\.0\.53\.1:53\/udp that is not a DNS query with one question\)/);
  await settle();
  assert.deepEqual(asked, ['logged.evil.test']);
});

test('--no-namespaces: no DNS network, said at start; queries on connected sockets reach the resolver unread', async () => {
  asked.length = 0;
  const r = await tsjail([...ALLOW, '--no-namespaces', '--', 'sh', '-c', './dns-probe udp 127.0.53.1 secret.evil.test']);
  assert.match(r.stderr, NOTE);
  assert.match(r.stderr, /unread \(--no-namespaces\)/);
  assert.equal(r.stdout, 'rcode 0 answers 1\n', r.stderr);
  await settle();
  assert.deepEqual(asked, ['secret.evil.test']);
});
