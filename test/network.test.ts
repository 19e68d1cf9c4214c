// -n / --unshare-net: the jail's own network namespace has `lo` up (127.0.0.1 and ::1 work)
// and nothing of the host's; the built-in policy refuses what a namespace does not isolate
// (AF_VSOCK) and line disciplines (TIOCSETD). Root and rootless.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-net-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);

const tsjail = (args: string[], asNobody: boolean): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, 'run', ...args];
  const [cmd, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: '', timeout: 30000 });
};

// A server and a client on each loopback address, and a connection out that must fail.
const LOOPBACK = `
import socket
for fam, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
    s = socket.socket(fam, socket.SOCK_STREAM); s.bind((host, 0)); s.listen(1)
    c = socket.socket(fam, socket.SOCK_STREAM); c.connect(s.getsockname()[:2])
    a, _ = s.accept(); c.sendall(b'ping ' + host.encode()); print(a.recv(100).decode())
try:
    socket.create_connection(('192.0.2.1', 80), timeout=5); print('OUT')
except OSError as e:
    print('no way out', e.errno)
`;

const hostLinks = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(':')[1]!.trim());

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';

  for (const flag of ['-n', '--unshare-net']) {
    test(`${who}: ${flag} gives the jail lo, up, and none of the host's interfaces; 127.0.0.1 and ::1 work, nothing else`, () => {
      assert.ok(hostLinks.some((l) => l !== 'lo'), `the host should have an interface besides lo: ${hostLinks.join(' ')}`);
      const links = tsjail([flag, '--', 'ip', '-o', 'link'], asNobody);
      assert.equal(links.status, 0, links.stderr);
      const lines = links.stdout.trim().split('\n');
      assert.deepEqual(lines.map((l) => l.split(':')[1]!.trim()), ['lo']);
      assert.match(lines[0]!, /<LOOPBACK,UP,LOWER_UP>/);
      const r = tsjail([flag, '--', 'python3', '-c', LOOPBACK], asNobody);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'ping 127.0.0.1\nping ::1\nno way out 101\n'); // ENETUNREACH: no route at all
    });
  }

  test(`${who}: without -n the host's interfaces are there (the check above is not vacuous)`, () => {
    const r = tsjail(['--', 'ip', '-o', 'link'], asNobody);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim()), hostLinks);
  });

  test(`${who}: the built-in policy refuses AF_VSOCK sockets and TIOCSETD with EPERM (with and without -n)`, () => {
    for (const probe of ['vsock', 'tiocsetd', 'tiocsetd-high']) {
      // Unjailed the kernel answers for itself (no vsock here, stdin is not a terminal): EPERM is the filter's.
      const plain = spawnSync(PROBE, [probe], { encoding: 'utf8', input: '' });
      assert.doesNotMatch(plain.stdout, /EPERM/, probe);
      for (const extra of [[], ['-n']]) {
        const r = tsjail([...extra, '--', PROBE, probe], asNobody);
        assert.equal(r.stdout, 'blocked EPERM\n', `${probe} ${extra.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, probe === 'vsock' ? /rule "vsock sockets"/ : /rule "line disciplines"/);
      }
    }
  });
}
