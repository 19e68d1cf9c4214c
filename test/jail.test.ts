// `tsjail run` for real: programs, exit statuses, options, failures, and escape probes.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../scripts/upstream';

const BIN = join(REPO_ROOT, 'bin/tsjail.js');
const work = mkdtempSync(join(tmpdir(), 'tsjail-jail-'));
chmodSync(work, 0o755);
const PROBE = join(work, 'escape-probe');
execFileSync('cc', ['-O2', '-o', PROBE, join(REPO_ROOT, 'test/helpers/escape-probe.c')]);

const tsjail = (args: string[], opts: { input?: string; asNobody?: boolean } = {}): SpawnSyncReturns<string> => {
  const argv = [process.execPath, BIN, 'run', ...args];
  const [cmd, ...rest] = opts.asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv;
  return spawnSync(cmd!, rest, { encoding: 'utf8', cwd: work, input: opts.input ?? '', timeout: 30000 });
};
const plain = (cmd: string[]): SpawnSyncReturns<string> => spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: work, input: '' });
const onX86 = process.arch === 'x64' ? false : 'the probes use x86_64 syscalls';

for (const asNobody of [false, true]) {
  const who = asNobody ? 'rootless (setpriv to nobody)' : 'as root';

  test(`${who}: real programs print exactly what they print unjailed`, () => {
    const programs = [
      ['echo', 'hello', 'world'],
      ['sh', '-c', 'for i in 1 2 3; do echo line $i; done | sort -r | tr a-z A-Z'],
      ['/usr/bin/python3', '-c', 'import json, hashlib, sys; print(json.dumps(sorted({"b": 1, "a": [1, 2]}.items())), hashlib.sha1(b"tsjail").hexdigest(), sys.argv)'],
      [process.execPath, '-e', 'console.log(JSON.stringify({ sum: [1, 2, 3].reduce((a, b) => a + b), env: typeof process.env.PATH }))'],
      ['git', '--version'],
      ['ls', '/usr/bin/env'],
      ['id', '-un'],
    ];
    for (const cmd of programs) {
      const expected = asNobody
        ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd], { encoding: 'utf8', cwd: work }).stdout
        : plain(cmd).stdout;
      const r = tsjail(['--', ...cmd], { asNobody });
      assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, expected, cmd.join(' '));
    }
  });

  test(`${who}: the escape probes are all blocked`, { skip: onX86 }, (t) => {
    const probes = ['ptrace', 'process_vm_readv', 'mount', 'umount', 'chroot', 'pivot_root', 'unshare', 'setns', 'clone-newuser', 'clone3',
      'keyctl', 'add_key', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'open_by_handle_at', 'init_module', 'kexec_load',
      'reboot', 'swapon', 'acct', 'syslog', 'personality', 'tiocsti', 'tioclinux'];
    const report: string[] = [];
    for (const p of probes) {
      const r = tsjail(['--', PROBE, p, String(process.pid)], { asNobody });
      assert.match(r.stdout, /^blocked (EPERM|ENOSYS)\n$/, `${p}: ${r.stdout}${r.stderr}`);
      report.push(`${p}: ${r.stdout.trim()}`);
    }
    for (const p of ['int80-getpid', 'int80-mount']) {
      const r = tsjail(['--', PROBE, p], { asNobody });
      assert.equal(r.status, 128 + 31, `${p} must die by SIGSYS`);
      report.push(`${p}: killed by SIGSYS`);
    }
    // A process outside the jail's PID namespace cannot even be named.
    const k = tsjail(['--', PROBE, 'kill', String(process.pid)], { asNobody });
    assert.equal(k.stdout, 'blocked ESRCH\n');
    t.diagnostic(report.join('; '));
  });
}

test('exit statuses: passed through, 128+N for a signal, 126 not executable, 127 not found', () => {
  assert.equal(tsjail(['--', 'sh', '-c', 'exit 3']).status, 3);
  assert.equal(tsjail(['--', 'sh', '-c', 'kill -TERM $$']).status, 143);
  const nf = tsjail(['--', 'no-such-command-here']);
  assert.equal(nf.status, 127);
  assert.match(nf.stderr, /tsjail: no-such-command-here: command not found/);
  const nx = tsjail(['--', '/etc/hostname']);
  assert.equal(nx.status, 126);
  assert.match(nx.stderr, /cannot execute: (EACCES|ENOEXEC)/);
});

test('the jail: own PID namespace with a fresh /proc, no capabilities, no_new_privs, a seccomp filter, a new session', () => {
  const r = tsjail(['--', 'sh', '-c', 'echo $$; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; ls /proc | grep -cE "^[0-9]+$"; ps -o sid= -p $$ >/dev/null 2>&1; cat /proc/self/stat | cut -d" " -f6']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '2'); // PID 1 is the jail's init
  assert.deepEqual(lines.slice(1, 5), ['CapEff:\t0000000000000000', 'CapBnd:\t0000000000000000', 'NoNewPrivs:\t1', 'Seccomp:\t2']);
  assert.ok(Number(lines[5]) <= 4, `processes visible: ${lines[5]}`);
  assert.equal(lines[6], '2'); // its own session: sid = its pid
});

test('-I/--insecure: no seccomp filter, and a loud warning', () => {
  const r = tsjail(['-I', '--', 'grep', '^Seccomp:', '/proc/self/status']);
  assert.equal(r.stdout, 'Seccomp:\t0\n');
  assert.match(r.stderr, /WARNING: --insecure: running WITHOUT a seccomp filter/);
});

test('-n: no network, not even to a loopback server', { skip: onX86 }, async () => {
  const server = createServer((s) => s.end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = String((server.address() as { port: number }).port);
  const run = (args: string[]): Promise<string> => new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'run', ...args, '--', PROBE, 'connect', port], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', () => resolve(out));
  });
  try {
    assert.equal(await run([]), 'ESCAPED\n'); // the probe can connect when the network is shared
    assert.match(await run(['-n']), /^blocked (ENETUNREACH|ECONNREFUSED)\n$/);
    assert.match(await run(['--unshare-net']), /^blocked (ENETUNREACH|ECONNREFUSED)\n$/);
  } finally {
    server.close();
  }
});

test('-u USER: runs as that user, who cannot become root again', () => {
  assert.equal(tsjail(['-u', 'nobody', '--', 'id', '-u']).stdout, '65534\n');
  assert.equal(tsjail(['-u', '65534', '--', PROBE, 'setuid0']).stdout, 'blocked EPERM\n');
  const bad = tsjail(['-u', 'no-such-user', '--', 'true']);
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /tsjail: unknown user 'no-such-user'/);
});

test('-r DIR: a prepared root; host files outside it are out of reach', () => {
  const root = join(work, 'root');
  mkdirSync(root, { recursive: true });
  const secret = join(work, 'secret.txt');
  writeFileSync(secret, 'host secret\n');
  const binds = ['/usr', '/lib', '/lib64', '/bin', '/etc'].flatMap((d) => ['--ro-bind', d]);
  const r = tsjail(['-r', root, ...binds, '--bind', `${work}/escape-probe:/probe`, '--', '/probe', 'read', secret]);
  assert.equal(r.stdout, 'blocked ENOENT\n', r.stderr);
  const ok = tsjail(['-r', root, ...binds, '-d', '/usr', '--', 'sh', '-c', 'pwd; ls /']);
  assert.equal(ok.stdout, '/usr\nbin\ndev\netc\nlib\nlib64\nprobe\nproc\nusr\n', ok.stderr); // mount points are made in DIR
  const missing = tsjail(['-r', join(work, 'nope'), '--', 'true']);
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /tsjail: cannot bind the new root: ENOENT/);
});

test('mounts: --ro-bind is read-only, --bind is writable, --tmpfs is empty, --dev has the basic devices, links and its own devpts', () => {
  const dir = join(work, 'shared');
  mkdirSync(dir, { recursive: true });
  assert.match(tsjail(['--ro-bind', `${dir}:/mnt`, '--', 'sh', '-c', 'touch /mnt/x 2>&1; echo $?']).stdout, /Read-only file system\n1\n/);
  assert.equal(tsjail(['--bind', `${dir}:/mnt`, '--', 'sh', '-c', 'echo written > /mnt/y && cat /mnt/y']).stdout, 'written\n');
  assert.equal(tsjail(['--tmpfs', '/srv', '--', 'sh', '-c', 'ls -A /srv | wc -l; touch /srv/z && echo ok']).stdout, '0\nok\n');
  assert.equal(tsjail(['--dev', '--', 'sh', '-c', 'ls /dev | tr "\\n" " "']).stdout, 'fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ');
  for (const asNobody of [false, true]) {
    const pty = tsjail(['--dev', '--', '/usr/bin/python3', '-c', 'import os; m, s = os.openpty(); print(os.ttyname(s))'], { asNobody });
    assert.equal(pty.stdout, '/dev/pts/0\n', pty.stderr);
  }
  const bad = tsjail(['--bind', `${join(work, 'absent')}:/mnt`, '--', 'true']);
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /tsjail: cannot bind \/tmp\/\S+\/absent: it does not exist/);
});

test('--hostname, -d, --env, --clear-env, --keep-env, --rlimit', () => {
  assert.equal(tsjail(['--hostname', 'jailed', '--', 'hostname']).stdout, 'jailed\n');
  assert.equal(tsjail(['-d', '/usr/share', '--', 'pwd']).stdout, '/usr/share\n');
  assert.match(tsjail(['-d', '/no/such/dir', '--', 'pwd']).stderr, /tsjail: cannot change directory to \/no\/such\/dir \(-d, in the jail\): ENOENT/);
  assert.equal(tsjail(['--env', 'GREETING=hi there', '--', 'sh', '-c', 'echo "$GREETING"']).stdout, 'hi there\n');
  const cleared = tsjail(['--clear-env', '--keep-env', 'HOME', '--env', 'A=1', '--', 'env']).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(cleared.map((l) => l.split('=')[0]), ['A', 'HOME', 'PATH']);
  assert.equal(tsjail(['--rlimit', 'nofile=17', '--', 'sh', '-c', 'ulimit -n']).stdout, '17\n');
  assert.match(tsjail(['--rlimit', 'bogus=1', '--', 'true']).stderr, /unknown resource limit 'bogus'/);
});

test('--timeout kills the whole jail; signals to tsjail reach the command', async () => {
  const started = Date.now();
  const r = tsjail(['--timeout', '0.5', '--', 'sh', '-c', 'sleep 30 & sleep 30']);
  assert.equal(r.status, 124);
  assert.match(r.stderr, /timed out after 0.5 s/);
  assert.ok(Date.now() - started < 10000);
  const child = spawn(process.execPath, [BIN, 'run', '--', 'sleep', '30'], { stdio: 'ignore' });
  setTimeout(() => child.kill('SIGTERM'), 500);
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 143);
});

test('--policy, --allow and --deny change the filter; a policy file can carry jail settings', () => {
  const denied0 = tsjail(['--deny', 'uname', '--', 'uname']);
  assert.equal(denied0.status, 1);
  assert.match(denied0.stderr, /Operation not permitted/);
  assert.equal(tsjail(['--allow', 'acct', '--', PROBE, 'acct']).stdout, 'blocked EPERM\n'); // past seccomp: no CAP_SYS_PACCT
  const policy = join(work, 'policy.ts');
  writeFileSync(policy, `import { definePolicy, allow, errno } from 'tsjail';
export default definePolicy({
  default: errno('EPERM'),
  rules: [allow('read', 'write', 'close', 'exit_group', 'brk', 'mmap', 'munmap', 'mprotect', 'openat', 'newfstatat', 'fstat',
    'execve', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'getrandom', 'access', 'pread64',
    'rt_sigaction', 'rt_sigprocmask', 'uname', 'getuid', 'geteuid', 'getgid', 'getegid', 'lseek', 'fcntl', 'ioctl', 'futex')],
  jail: { hostname: 'from-policy' },
});
`);
  const r = tsjail(['--policy', policy, '--', 'uname', '-n']);
  assert.equal(r.stdout, 'from-policy\n', r.stderr);
  assert.equal(tsjail(['--policy', policy, '--hostname', 'from-flag', '--', 'uname', '-n']).stdout, 'from-flag\n');
  const denied = tsjail(['--policy', policy, '--', PROBE, 'kill', '1']);
  assert.equal(denied.stdout, 'blocked EPERM\n');
  const typo = tsjail(['--allow', 'getppdi', '--', 'true']);
  assert.equal(typo.status, 125);
  assert.match(typo.stderr, /command line: unknown syscall 'getppdi' — did you mean .*'getppid'/);
});

test('--cap-keep keeps named capabilities (all sets, ambient too, so they survive -u); --group sets the primary group', () => {
  const bit = (1 << 10).toString(16).padStart(16, '0'); // CAP_NET_BIND_SERVICE
  assert.equal(tsjail(['--cap-keep', 'NET_BIND_SERVICE', '--', 'grep', '^CapEff:', '/proc/self/status']).stdout, `CapEff:\t${bit}\n`);
  assert.equal(tsjail(['-u', 'nobody', '--cap-keep', 'cap_net_bind_service', '--', 'grep', '^CapAmb:', '/proc/self/status']).stdout, `CapAmb:\t${bit}\n`);
  assert.match(tsjail(['--cap-keep', 'NET_BIND_SERVCE', '--', 'true']).stderr, /unknown capability 'NET_BIND_SERVCE' — did you mean 'CAP_NET_BIND_SERVICE'/);
  assert.equal(tsjail(['-u', 'nobody', '-g', 'daemon', '--', 'id', '-g']).stdout, '1\n');
  assert.match(tsjail(['-g', 'daemon', '--', 'true']).stderr, /--group needs --user/);
});

test('capability sets: each kept per set from flags, --caps FILE and the policy file; a non-root user binds port 1001 only with it ambient', () => {
  const NBS = 1n << 10n, CHOWN = 1n << 0n;
  const hex = (v: bigint): string => v.toString(16).padStart(16, '0');
  const status = (args: string[]): Record<string, string> => {
    const r = tsjail([...args, '--', 'grep', '^Cap', '/proc/self/status']);
    assert.equal(r.status, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(':\t') as [string, string]));
  };
  const nobodyNbs = ['-u', 'nobody', '--cap-bounding', 'NET_BIND_SERVICE,CHOWN', '--cap-permitted', 'NET_BIND_SERVICE', '--cap-inheritable', 'NET_BIND_SERVICE', '--cap-ambient', 'NET_BIND_SERVICE'];
  assert.deepEqual(status(nobodyNbs), { CapInh: hex(NBS), CapPrm: hex(NBS), CapEff: hex(NBS), CapBnd: hex(NBS | CHOWN), CapAmb: hex(NBS) });
  // Without ambient, nothing survives execve for a non-root user; the bounding set still shows.
  assert.deepEqual(status(['-u', 'nobody', '--cap-bounding', 'NET_BIND_SERVICE']), { CapInh: hex(0n), CapPrm: hex(0n), CapEff: hex(0n), CapBnd: hex(NBS), CapAmb: hex(0n) });
  // The same sets from a ujail -C / OCI-style file, and from a policy file's jail section.
  const caps = join(work, 'caps.json');
  writeFileSync(caps, JSON.stringify({ bounding: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'], permitted: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] }));
  assert.deepEqual(status(['-u', 'nobody', '--caps', caps]), status(nobodyNbs));
  const policy = join(work, 'caps-policy.ts');
  writeFileSync(policy, `import { definePolicy, allow } from 'tsjail';
export default definePolicy({ default: allow(), rules: [], jail: { user: 'nobody', capabilities: ${readFileSync(caps, 'utf8')} } });
`);
  assert.deepEqual(status(['--policy', policy]), status(nobodyNbs));
  // What the capability does: binding a privileged port as nobody (in the jail's own network
  // namespace: a root-started jail's capabilities are its user namespace's).
  const bind = ['/usr/bin/python3', '-c', 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 1001)); print("bound")'];
  const bound = tsjail([...nobodyNbs, '--unshare-net', '--', ...bind]);
  assert.equal(bound.stdout, 'bound\n', bound.stderr);
  const refused = tsjail(['-u', 'nobody', '--unshare-net', '--cap-bounding', 'NET_BIND_SERVICE', '--', ...bind]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /PermissionError/);
  // Combinations the kernel would refuse are errors before anything runs.
  const notPermitted = tsjail(['--cap-ambient', 'NET_BIND_SERVICE', '--', 'true']);
  assert.equal(notPermitted.status, 125);
  assert.match(notPermitted.stderr, /CAP_NET_BIND_SERVICE in the ambient set must also be in the permitted set/);
  assert.match(tsjail(['--cap-inheritable', 'CHOWN', '--', 'true']).stderr, /CAP_CHOWN in the inheritable set must also be in the bounding set/);
  writeFileSync(caps, JSON.stringify({ permited: ['CAP_CHOWN'] }));
  assert.match(tsjail(['--caps', caps, '--', 'true']).stderr, /unknown capability set 'permited' — did you mean 'permitted'/);
});

test('--join-ns joins existing network and UTS namespaces (made persistent by unshare); others are refused', () => {
  const dir = mkdtempSync(join(work, 'ns-'));
  const net = join(dir, 'net'), uts = join(dir, 'uts');
  writeFileSync(net, '');
  writeFileSync(uts, '');
  execFileSync('unshare', [`--net=${net}`, 'true']);
  execFileSync('unshare', [`--uts=${uts}`, 'hostname', 'joined-uts']);
  try {
    const inode = execFileSync('stat', ['-L', '-c', '%i', net], { encoding: 'utf8' }).trim();
    const r = tsjail(['--join-ns', `net=${net}`, '--join-ns', `uts=${uts}`, '--', 'sh', '-c', 'readlink /proc/self/ns/net; hostname']);
    assert.equal(r.stdout, `net:[${inode}]\njoined-uts\n`, r.stderr);
    assert.match(tsjail(['--join-ns', 'pid=/proc/1/ns/pid', '--', 'true']).stderr, /cannot join a pid namespace \(joinable: net, ipc, uts, cgroup\)/);
    assert.match(tsjail(['--join-ns', `net=${join(dir, 'absent')}`, '--', 'true']).stderr, /cannot join the net namespace at .*absent: it does not exist/);
  } finally {
    spawnSync('umount', [net]);
    spawnSync('umount', [uts]);
  }
});

test('jail.readonlyPaths and jail.maskedPaths from a policy file, root and rootless; a read-only path keeps its other mount flags', () => {
  const policy = join(work, 'paths.ts');
  writeFileSync(policy, `import { definePolicy, allow } from 'tsjail';
export default definePolicy({ default: allow(), rules: [], jail: { readonlyPaths: ['/usr', '/proc/sys'], maskedPaths: ['/etc/hostname', '/proc/acpi'] } });
`);
  for (const asNobody of [false, true]) {
    const r = tsjail(['--policy', policy, '--', 'sh', '-c', '/usr/bin/true && echo exec; touch /usr/x 2>/dev/null || echo usr-ro; wc -c < /etc/hostname; echo 1 > /proc/sys/kernel/shmmni 2>/dev/null || echo sys-ro'], { asNobody });
    assert.equal(r.stdout, 'exec\nusr-ro\n0\nsys-ro\n', r.stderr);
  }
  assert.match(tsjail(['--policy', policy, '-r', '/', '--host-dev', '--', 'true']).stderr, /masked paths are covered with the jail's \/dev\/null: add --dev/);
});

test('the jail dies with tsjail, even when tsjail is killed with SIGKILL', async () => {
  const marker = `${31 + Math.random()}`.slice(0, 8);
  const child = spawn(process.execPath, [BIN, 'run', '--', 'sleep', marker], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 700));
  const running = (): boolean => spawnSync('pgrep', ['-f', `^sleep ${marker}$`]).status === 0;
  assert.ok(running(), 'the command should be running');
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!running(), 'the command outlived tsjail');
});

test('descriptors beyond stdio do not reach the command', () => {
  // ls lists its own descriptors: stdio and the directory it reads (3). A leak would add more.
  const r = spawnSync(process.execPath, [BIN, 'run', '--', 'ls', '/proc/self/fd'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  assert.equal(r.stdout, '0\n1\n2\n3\n');
});

test('fails closed when the kernel refuses a step: namespaces (then without them), then seccomp (tsjail inside tsjail)', () => {
  // The outer jail's policy refuses clone with namespace flags: the inner jail goes on without namespaces, and says so;
  // it still does not run: the outer policy refuses its supervisor's handshake (ENOSYS beats USER_NOTIF) and pidfd_getfd.
  const inner = [process.execPath, BIN, 'run', '--', 'true'];
  const ns = tsjail(['--', ...inner]);
  assert.equal(ns.status, 125, ns.stderr);
  assert.match(ns.stderr, /^tsjail: user namespaces are refused here \(create the namespaces \(clone\): EPERM\): running WITHOUT namespaces/m);
  assert.match(ns.stderr, /^tsjail: +holds: +files, by Landlock/m);
  assert.match(ns.stderr, /^tsjail: cannot load the seccomp filter: E[A-Z]+/m);
  assert.match(ns.stderr, /^tsjail: pid \d+ clone\(clone_flags=CLONE_NEWNS \| (CLONE_NEWCGROUP \| )?CLONE_NEWUTS \| CLONE_NEWIPC \| CLONE_NEWPID \| 0x11,.*\) -> EPERM\n {8}decided by: rule "clone with namespaces" of the built-in policy/m);
  // Namespaces allowed but not their set-up (the outer Landlock refuses /proc/PID/setgroups, its policy mount): the same.
  const mnt = tsjail(['--allow', 'clone', '--', process.execPath, BIN, 'run', '--', 'true'], { asNobody: true });
  assert.equal(mnt.status, 125, mnt.stderr);
  assert.match(mnt.stderr, /^tsjail: user namespaces are refused here \((deny setgroups in the user namespace|write the uid map|make mounts private): E[A-Z]+\): running WITHOUT namespaces/m);
  // ...but an option that needs a namespace is refused, not dropped.
  const net = tsjail(['--', process.execPath, BIN, 'run', '-n', '--', 'true']);
  assert.equal(net.status, 125);
  assert.match(net.stderr, /user namespaces are refused here .*-n\/--no-network needs a network namespace; nothing was run/);
  // Namespaces and mounts allowed but no seccomp(2): the inner jail still refuses to run unconfined.
  // (--no-proc: the outer jail's /proc has masked paths, and the kernel mounts a new proc only where none is covered.)
  const sc = tsjail(['--allow', 'clone,mount,open_tree,move_mount,mount_setattr', '--deny', 'seccomp', '--', process.execPath, BIN, 'run', '--no-proc', '--', 'true'], { asNobody: true });
  assert.equal(sc.status, 125);
  assert.match(sc.stderr, /^tsjail: cannot load the seccomp filter: EPERM/m);
});

test('--ro-root, --pidfile, --name and --json-status-fd (issue 6 parity items)', { skip: onX86 }, () => {
  // --ro-root is read-only all the way down (the host's submounts too); without it a
  // --host-ids jail writes as the host's root, and a private-range one only where it is given.
  assert.match(tsjail(['--host-ids', '--host-fs', '--ro-root', '--', 'sh', '-c', `touch ${work}/x 2>&1; echo $?`]).stdout, /Read-only file system\n1\n/);
  const host = tsjail(['--host-ids', '--', 'sh', '-c', 'echo 1 > /proc/sys/kernel/shmmni; echo 0 > /sys/fs/cgroup/cgroup.procs']);
  assert.equal((host.stderr.match(/Read-only file system/g) ?? []).length, 2, host.stderr); // even as the host's root
  assert.equal(tsjail(['--host-ids', '--', 'sh', '-c', `touch ${work}/x && echo ok`]).stdout, 'ok\n');
  const pidfile = join(work, 'jail.pid');
  const r = tsjail(['--pidfile', pidfile, '--', 'cat', pidfile]);
  assert.match(r.stdout, /^\d+\n$/);
  assert.ok(!existsSync(pidfile), 'the pidfile is removed when the jail ends');
  assert.match(tsjail(['--name', 'web', '--', PROBE, 'keyctl']).stderr, /^tsjail: \[web\] pid \d+ keyctl\(/m);
  const status = spawnSync(process.execPath, [BIN, 'run', '--json-status-fd', '3', '--', 'sh', '-c', 'exit 4'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const lines = (status.output[3] as string).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(typeof lines[0]['child-pid'], 'number');
  assert.equal(typeof lines[0]['pid-namespace'], 'number');
  assert.deepEqual(lines[1], { 'exit-code': 4 });
});

test('--overlay keeps the root\'s writes in an upper directory; --tmp-overlay loses them and has a size', () => {
  const root = mkdtempSync(join(work, 'ovl-root-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'motd'), 'base\n');
  const upper = mkdtempSync(join(work, 'ovl-upper-'));
  const binds = ['/usr', '/lib', '/lib64', '/bin'].flatMap((d) => ['--ro-bind', d]);
  const first = tsjail(['-r', root, ...binds, '--overlay', upper, '--', 'sh', '-c', 'cat /etc/motd; echo changed > /etc/motd']);
  assert.equal(first.stdout, 'base\n', first.stderr);
  assert.equal(readFileSync(join(root, 'etc', 'motd'), 'utf8'), 'base\n'); // the lower directory is untouched
  assert.equal(readFileSync(join(upper, 'upper', 'etc', 'motd'), 'utf8'), 'changed\n');
  assert.equal(tsjail(['-r', root, ...binds, '--overlay', upper, '--', 'cat', '/etc/motd']).stdout, 'changed\n');
  const tmp = tsjail(['-r', root, ...binds, '--dev', '--tmp-overlay', '1m', '--', 'sh', '-c', 'echo gone > /etc/motd; cat /etc/motd; head -c 4000000 /dev/zero > /etc/big 2>/dev/null || echo full']);
  assert.equal(tmp.stdout, 'gone\nfull\n', tmp.stderr);
  assert.equal(tsjail(['-r', root, ...binds, '--tmp-overlay', '1m', '--', 'cat', '/etc/motd']).stdout, 'base\n');
  assert.match(tsjail(['--tmp-overlay', '1m', '--', 'true']).stderr, /--overlay and --tmp-overlay need --root DIR/);
});

test('--stage: a fresh root with only the staged programs, their loader and libraries (read from the ELF headers)', () => {
  const ls = tsjail(['--stage', '/bin/ls', '--no-proc', '--', 'ls', '-R', '/']);
  assert.equal(ls.status, 0, ls.stderr);
  const staged = ls.stdout.split('\n').filter((l) => /^[a-z0-9._+-]+$/i.test(l));
  assert.ok(staged.includes('libc.so.6') && staged.includes('ls') && staged.includes('ld-linux-x86-64.so.2'), staged.join(' '));
  assert.ok(!staged.includes('etc') && !staged.includes('usr'));
  const py = tsjail(['--stage', '/usr/bin/python3', '--stage', join('/usr/lib', readdirSync('/usr/lib').find((d) => /^python3\.\d+$/.test(d))!), '--',
    'python3', '-c', 'import os, json; print(json.dumps(sorted(os.listdir("/"))))']);
  assert.equal(py.stdout, '["dev", "lib", "lib64", "proc", "usr"]\n', py.stderr);
  const cat = tsjail(['--stage', '/bin/cat', '--', 'cat', '/etc/hostname']);
  assert.equal(cat.status, 1);
  assert.match(cat.stderr, /No such file or directory/);
  assert.match(tsjail(['--stage', '/no/such/thing', '--', 'true']).stderr, /cannot stage \/no\/such\/thing: it does not exist/);
  // The staged root is tsjail's temporary directory: gone after a run, a bad option or a failed start.
  const tmp = mkdtempSync(join(work, 'tmpdir-'));
  for (const args of [['-u', 'no-such-user'], ['--rlimit', 'bogus=1'], ['--late', '--no-proc'], []]) {
    const r = spawnSync(process.execPath, [BIN, 'run', '--stage', '/bin/ls', ...args, '--', 'no-such-command'], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    assert.ok(r.status === 125 || r.status === 127, `${args}: ${r.status} ${r.stderr}`);
    assert.deepEqual(readdirSync(tmp), [], `${args.join(' ')} left ${readdirSync(tmp)}`);
  }
});
