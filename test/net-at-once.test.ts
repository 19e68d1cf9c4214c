// A blocking connect or datagram send the network rules allow is performed by tsjail's helper at
// once, on the jail's socket made non-blocking for the moment (netSupervisor.ts, net_at_once in
// the helper); one that would block waits on a pool thread. What the jail sees must be what its
// blocking call gives without tsjail: ECONNREFUSED from a closed port, EINPROGRESS once its own
// SO_SNDTIMEO ends while the peer does not answer, the socket blocking again afterwards; and a
// stuck connect holds up no other call. Root and rootless. (The racing-sockaddr attacks on the
// same path are in net-rules.test.ts.)
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const work = mkdtempSync('/var/tmp/tsjail-at-once-');
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

// `probe closed PORT`: a blocking connect to 127.0.0.2:PORT; `probe stuck PORT`: blocking connects
// with SO_SNDTIMEO 300 ms to a listener that accepts nothing, until one does not complete, then
// whether the socket is still blocking; `probe udp PORT`: a blocking sendto. Each prints op=ok or op=<errno>.
const PROBE_C = `#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
static void say(const char *op, int r) { printf("%s=%s\\n", op, r ? strerrorname_np(errno) : "ok"); fflush(stdout); }
int main(int c, char **v) {
  if (c != 3) return 2;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(v[2])) };
  inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  if (!strcmp(v[1], "closed")) { int s = socket(AF_INET, SOCK_STREAM, 0); say("connect", connect(s, (void *)&a, sizeof a)); }
  else if (!strcmp(v[1], "udp")) { int s = socket(AF_INET, SOCK_DGRAM, 0); say("sendto", sendto(s, "x", 1, 0, (void *)&a, sizeof a) == 1 ? 0 : -1); }
  else if (!strcmp(v[1], "stuck")) {
    for (int i = 0; i < 8; i++) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      struct timeval tv = { 0, 300000 };
      setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (connect(s, (void *)&a, sizeof a) == 0) continue;
      say("connect", -1);
      printf("blocking=%s\\n", fcntl(s, F_GETFL) & O_NONBLOCK ? "no" : "yes");
      return 0;
    }
    printf("all connected\\n");
  } else return 2;
  return 0;
}
`;
const probe = join(work, 'at-once-probe');
writeFileSync(`${probe}.c`, PROBE_C);
execFileSync('cc', ['-O2', '-o', probe, `${probe}.c`]);
chmodSync(probe, 0o755);

const PORT = 46000 + (process.pid % 1000);
let listener: ReturnType<typeof spawn> | undefined;
before(async () => {
  // Backlog 0 and never an accept: after the first connection or two the kernel drops the SYNs.
  listener = spawn('python3', ['-c', `import socket, time
s = socket.socket(); s.bind(('127.0.0.2', ${PORT})); s.listen(0); print('up', flush=True); time.sleep(600)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => listener!.stdout!.once('data', () => resolve()));
});
after(() => listener?.kill());

const tsjail = (nobody: boolean, port: number, script: string): ReturnType<typeof spawnSync> => {
  const argv = [...(nobody ? NOBODY : []), process.execPath, BIN, 'run', '--allow-net', `127.0.0.2:${port}`, '--', 'sh', '-c', script];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: work, input: '', timeout: 60000 });
};

for (const nobody of [false, true]) {
  const who = nobody ? 'rootless' : 'as root';

  test(`${who}: an allowed blocking connect to a closed port fails ECONNREFUSED; a datagram send goes out`, () => {
    const r = tsjail(nobody, PORT + 1, `${probe} closed ${PORT + 1}; ${probe} udp ${PORT + 1}`);
    assert.equal(r.stdout, 'connect=ECONNREFUSED\nsendto=ok\n', String(r.stderr));
  });

  test(`${who}: an allowed connect the peer does not answer ends as the jail's SO_SNDTIMEO says (EINPROGRESS), the socket still blocking; another call is served meanwhile`, () => {
    const r = tsjail(nobody, PORT, `${probe} stuck ${PORT} & ${probe} closed ${PORT + 2}; wait`);
    // (The second probe's port is not allowed: refused by the rules while the first waits.)
    assert.equal(String(r.stdout).split('\n').sort().join('\n'), ['', 'blocking=yes', 'connect=EINPROGRESS', 'connect=EPERM'].join('\n'), String(r.stderr));
  });
}
