// The command line's reference: every subcommand, its flags and what they do. `--help`, `tsjail
// man` (roff) and `tsjail completion bash|zsh` are all generated from this one table, so none of
// them can name a flag the others lack (test/cli-conventions.test.ts checks it against the parsers).
import { ABI_NAMES } from '../arch/abi';

/** One flag (with its aliases, long name first) and the value it takes, if any. */
export interface FlagDoc {
  readonly names: readonly string[];
  /** The value's placeholder (FILE, DIR, N...); absent for a switch. */
  readonly value?: string;
  readonly text: string;
  /** What a shell completes the value with: files, directories, or these words. */
  readonly complete?: 'file' | 'dir' | readonly string[];
}

export interface CommandDoc {
  readonly name: string;
  /** The arguments after `tsjail NAME`. */
  readonly synopsis: string;
  /** One line, for the command list. */
  readonly summary: string;
  /** Paragraphs after the synopsis in --help and the man page. */
  readonly text?: string;
  readonly flags: readonly FlagDoc[];
}

/** A FlagDoc: one name or several (long first), the value's placeholder (undefined for a switch). */
const flagDoc = (names: string | readonly string[], value: string | undefined, text: string, complete?: FlagDoc['complete']): FlagDoc =>
  ({ names: typeof names === 'string' ? [names] : names, ...(value ? { value } : {}), text, ...(complete ? { complete } : {}) });

const NAMESPACE_NAMES = ['user', 'pid', 'net', 'ipc', 'uts', 'mount', 'cgroup'] as const;
const CAPABILITY_SET_NAMES = ['bounding', 'permitted', 'effective', 'inheritable', 'ambient'] as const;

/** The flags `run` and `learn` share: the jail's settings. */
const JAIL_FLAGS: readonly FlagDoc[] = [
  flagDoc(['--policy', '-p'], 'FILE', 'seccomp policy (.ts/.js, OCI/Docker .json, systemd SystemCallFilter=, or a raw filter FILE.bpf loaded as it is); - reads it from stdin (--policy-format says which; default: JSON if it starts with {, else TypeScript); default: the built-in one', 'file'),
  flagDoc('--policy-format', 'FORMAT', 'with --policy -: ts, js, json (OCI/Docker) or systemd', ['ts', 'js', 'json', 'systemd']),
  flagDoc('--procd', undefined, 'read a JSON policy as OpenWrt procd does (first match wins)'),
  flagDoc('--allow', 'A,B', 'also allow these syscalls (SECCOMP_SYSCALL_ALLOW=a:b in the environment REPLACES the policy, with cloudflare sandbox\'s meaning: see the README)'),
  flagDoc('--deny', 'A,B', 'refuse these syscalls with EPERM (SECCOMP_SYSCALL_DENY=a:b: as for --allow)'),
  flagDoc(['--no-network', '-n'], undefined, 'a network namespace of its own: only lo, up'),
  flagDoc('--net', 'MODE', 'none: own network namespace, only lo (as -n); loopback: the host\'s 127.0.0.0/8 and ::1 only; host: unrestricted (the default)', ['none', 'loopback', 'host']),
  flagDoc('--allow-net', 'RULE', 'connect/send only where a rule allows (repeatable; adds to --net loopback): HOST[:PORT[-PORT]][/tcp|/udp], HOST = 1.2.3.4, [::1], 10.0.0.0/8, name, *.name'),
  flagDoc('--join-ns', 'TYPE=PATH', 'join an existing net, ipc, uts or cgroup namespace (e.g. net=/run/netns/blue)'),
  flagDoc('--ro', 'PATH', 'file rule: PATH read-only (repeatable, ~ expanded; a later rule for the same path wins). Default: the host read-only, the working directory writable, a private /tmp, secrets hidden (README: Files)', 'file'),
  flagDoc('--rw', 'PATH', 'file rule: PATH writable', 'file'),
  flagDoc('--hide', 'PATH', 'file rule: PATH hidden (empty)', 'file'),
  flagDoc('--show', 'PATH', 'file rule: PATH visible although a default hides it', 'file'),
  flagDoc('--noexec', 'PATH', 'file rule: nothing under PATH can be executed', 'file'),
  flagDoc('--host-fs', undefined, 'share the host\'s files as they are, secrets too (UNSAFE for untrusted code)'),
  flagDoc(['--root', '-r'], 'DIR', 'pivot_root into DIR', 'dir'),
  flagDoc(['--cwd', '-d'], 'DIR', 'working directory in the jail', 'dir'),
  flagDoc(['--user', '-u'], 'USER', 'run as USER (name or uid; its gid and groups follow)'),
  flagDoc(['--group', '-g'], 'GROUP', 'run with GROUP as the primary group'),
  flagDoc('--cap-keep', 'CAP,...', 'keep these capabilities in every set (default: all dropped)'),
  ...CAPABILITY_SET_NAMES.map((set) => flagDoc(`--cap-${set}`, 'CAP,...', `keep these capabilities in the ${set} set`)),
  flagDoc('--caps', 'FILE', 'the five capability sets from a JSON file (ujail -C, OCI process.capabilities)', 'file'),
  flagDoc(['--insecure', '-I'], undefined, 'no seccomp filter (loud)'),
  ...NAMESPACE_NAMES.map((ns) => flagDoc(`--unshare-${ns}`, undefined, `a ${ns} namespace of its own`)),
  flagDoc('--hostname', 'NAME', 'the jail\'s hostname'),
  flagDoc('--bind', 'SRC[:DST]', 'bind SRC on DST (writable)', 'file'),
  flagDoc('--ro-bind', 'SRC[:DST]', 'bind SRC on DST read-only', 'file'),
  flagDoc('--tmpfs', 'DST', 'a tmpfs on DST'),
  flagDoc('--proc', undefined, 'a /proc of the jail\'s own'),
  flagDoc('--no-proc', undefined, 'no /proc'),
  flagDoc('--dev', undefined, 'the jail\'s minimal /dev (the default)'),
  flagDoc('--host-dev', undefined, 'the host\'s /dev instead of the jail\'s minimal one'),
  flagDoc('--host-ids', undefined, 'as root: run as the host\'s root minus capabilities, not a private id range (UNSAFE for untrusted code: it can read and write what root can)'),
  flagDoc('--no-namespaces', undefined, 'no namespaces (as where user namespaces are refused, which tsjail detects): Landlock, seccomp, no_new_privs and limits; says at start what does not hold'),
  flagDoc('--env', 'K=V', 'set K in the jail'),
  flagDoc('--keep-env', 'K|PREFIX*', 'also pass K from tsjail\'s environment (default: only PATH HOME USER LOGNAME LANG LANGUAGE LC_* TERM COLORTERM TZ)'),
  flagDoc('--clear-env', undefined, 'pass nothing but PATH'),
  flagDoc('--inherit-env', undefined, 'pass everything (secrets too)'),
  flagDoc('--rlimit', 'NAME=N', 'a resource limit (e.g. nofile=256)'),
  flagDoc('--timeout', 'SECONDS', 'kill the jail after this long (exit status 124)'),
  flagDoc('--no-limits', undefined, 'no default limits (tasks 1024, nofile 4096, core 0, memory half the host\'s where a cgroup can be made)'),
  flagDoc('--memory', 'SIZE', 'cgroup memory limit (v2 where delegated, else v1)'),
  flagDoc('--pids', 'N', 'cgroup limit on tasks'),
  flagDoc('--cpu', 'CPUS', 'cgroup CPU limit (e.g. 0.5)'),
  flagDoc('--log', undefined, 'report the policy\'s denials but let the calls run'),
  flagDoc('--kill-after', 'SECONDS', 'after SIGTERM/SIGINT to tsjail, kill the whole jail this much later (10)'),
  flagDoc('--report', 'FILE', 'also write each denial as a JSON line to FILE (/dev/fd/N: to the inherited fd N)', 'file'),
  flagDoc('--report-fd', 'N', 'also write each denial as a JSON line to the inherited fd N (a pipe, a socket, a file)'),
  flagDoc(['--quiet', '-q'], undefined, 'no denial reports on stderr (--report and --report-fd still get them)'),
  flagDoc('--ro-root', undefined, 'remount the root read-only'),
  flagDoc('--pidfile', 'FILE', 'the command\'s pid (as the host sees it), while it runs', 'file'),
  flagDoc('--name', 'NAME', 'shown in reports'),
  flagDoc('--json-status-fd', 'FD', 'bwrap-style status lines'),
  flagDoc('--bundle', 'DIR', 'run an OCI bundle (config.json + rootfs); unsupported fields are errors', 'dir'),
  flagDoc('--overlay', 'DIR', 'with -r: writes to the root persist in DIR', 'dir'),
  flagDoc('--tmp-overlay', 'SIZE', 'with -r: writes to the root vanish'),
  flagDoc('--stage', 'PATH', 'a fresh root with only these (ELF: + loader, libraries)', 'file'),
  flagDoc('--stage-rw', 'PATH', 'as --stage, writable', 'file'),
  flagDoc(['--tty', '-t'], undefined, 'a pseudo-terminal of the jail\'s own, relayed to this one (interactive shells, job control; the jail holds no fd of this terminal, so TIOCSTI cannot reach it)'),
  flagDoc('--late', undefined, 'the policy alone decides from main() on (dynamic glibc programs): it need not allow the loader; until main() its calls are let through too'),
];

const ARCH_FLAG = flagDoc('--arch', 'ARCH', 'target architecture (default: the host\'s; repeatable where several make sense); one ARCH with an OCI profile means an ARCH machine: also the profile\'s ABIs it runs (x86 and x32 on x86_64), as runc builds it there', ABI_NAMES);
const OCI_FLAGS: readonly FlagDoc[] = [
  flagDoc('--caps', 'CAP,CAP', 'OCI/Docker profiles: the capabilities that decide includes/excludes (default: Docker\'s default set)'),
  flagDoc('--kernel', 'VERSION', 'OCI/Docker profiles: the kernel for minKernel (default: the running kernel)'),
  flagDoc('--procd', undefined, 'read JSON with OpenWrt procd\'s meaning (first match wins, one 32-bit word per argument)'),
];
const POLICY_FLAG = flagDoc(['--policy', '-p'], 'FILE', 'the policy (.ts, .js, OCI/Docker .json, systemd; @builtin: the built-in policy of tsjail run; -: stdin)', 'file');
const HELP_FLAG = flagDoc(['--help', '-h'], undefined, 'this help');

export const COMMANDS: readonly CommandDoc[] = [
  {
    name: 'run', synopsis: '[OPTIONS] [--preset untrusted|agent] [--policy FILE] -- CMD [ARGS...]', summary: 'run a command in a jail',
    text: 'Exit status: the command\'s (128+N when killed by signal N); 125 when tsjail fails, 126 when CMD cannot be executed, 127 when it is not found, 2 for a usage error.',
    flags: [
      ...JAIL_FLAGS,
      flagDoc('--enforce', '@builtin|FILE', 'drift mode: --policy is what the program is expected to do, this policy what is enforced; a call outside the first that the second allows runs and is reported as drift, with the line to add (README: Drift)', 'file'),
      flagDoc('--no-cache', undefined, 'compile --policy FILE afresh, not from the filter cache (~/.cache/tsjail/filters; also TSJAIL_CACHE=0; TSJAIL_DEBUG=cache tells hits and misses: README: Cache)'),
      flagDoc('--on-repeat', 'report|kill', 'a refused call retried 1000 times within 10 s: reported (the default), or kill: the jail is ended, exit status 159', ['report', 'kill']),
      flagDoc('--preset', 'NAME', 'jail settings for code you do not trust (README: Presets): host read-only, workspace and /tmp writable, secrets hidden, no network (agent: only --allow-net RULE), default environment and limits; flags that would undo them are errors', ['untrusted', 'agent']),
      HELP_FLAG,
    ],
  },
  {
    name: 'learn', synopsis: '[-o FILE] [--weights-out FILE] [--format ts|json [--for RUNTIME,...]] [--merge FILE] [--exact] [--learn-dangerous] [--learn-abi ABI] [--learn-net] [JAIL OPTIONS] -- CMD [ARGS...]',
    summary: 'run a command and write the minimal policy it needs',
    text: `Runs CMD in the jail (same options as tsjail run) with every syscall observed, and writes the
allowlist policy under which it runs: TypeScript (default) or an OCI profile (json). The policy
generalizes: calls of the same class as one seen (poll/ppoll/epoll_wait, wait4/waitid, the stat
family, ...), the calls timing or the disk's state decides (futex for threads, rt_sigsuspend for
children, rmdir and getdents64 after mkdir), terminal ioctls, socket families of one kind, and
clone without namespace flags, each added only where the built-in policy allows it and marked
\`added:\`. --exact writes only what the run did.
--merge FILE widens a policy written by an earlier learn with this run. --late learns only what
runs after start-up (from main() on), for a policy run with tsjail run --late.

What the built-in policy refuses stays refused while learning, answered as tsjail run answers
it, reported, and left out of the policy: ptrace and process inspection, mounts and roots,
namespaces (unshare, setns, clone with namespace flags; clone3 gets ENOSYS so libc uses clone),
keyrings, bpf, io_uring, userfaultfd, perf_event_open, file handles, modules and kexec, host
administration, terminal injection, odd personalities. A call through another ABI than the
host's (i386 int 0x80, x32) kills its caller, as under tsjail run.
Directories written outside the working directory and /tmp are written as jail.fs rw rules (never
/, your home or a secret); such a write is refused while learning, as the default jail refuses it.`,
    flags: [
      flagDoc(['--output', '-o'], 'FILE', 'write the policy to FILE (default, or -: stdout)', 'file'),
      flagDoc('--format', 'FORMAT', 'ts (default) or json (an OCI profile; the default for -o *.json)', ['ts', 'json']),
      flagDoc('--weights-out', 'FILE', 'also write how often each syscall ran (with --merge: in every run merged), for tsjail compile --weights', 'file'),
      flagDoc('--for', 'RUNTIME', 'with --format json: also allow the calls RUNTIME (runc, crun, or k8s: a kubelet localhost profile, run by containerd with runc) makes after it loads the filter (repeat or comma-separate)', ['runc', 'crun', 'k8s']),
      flagDoc('--merge', 'FILE', 'widen a policy written by an earlier learn with this run', 'file'),
      flagDoc('--exact', undefined, 'write only what the run did (no generalization)'),
      flagDoc('--learn-dangerous', undefined, 'let the calls the built-in policy refuses run and learn them too (only for a program you trust)'),
      flagDoc('--learn-abi', 'ABI', 'also learn calls through ABI (x86, x32; repeat or comma-separate); the policy then targets it', ['x86', 'x32']),
      flagDoc('--learn-net', undefined, 'connects and sends are performed by tsjail (as under network rules) and their destinations written as jail.net.allow'),
      ...JAIL_FLAGS,
      HELP_FLAG,
    ],
  },
  {
    name: 'compile', synopsis: '--policy FILE [--arch ARCH]... [--format raw|c|disasm|json|oci|k8s|systemd] [-o OUT] [--stats] [--weights FILE] [--verify] [--systemd-version N]',
    summary: 'compile a policy (.ts, .js, or OCI/Docker .json) to a seccomp filter',
    flags: [
      POLICY_FLAG, ARCH_FLAG,
      flagDoc('--format', 'FORMAT', 'raw (struct sock_filter[], the default), c, disasm, json, oci, k8s or systemd', ['raw', 'c', 'disasm', 'json', 'oci', 'k8s', 'systemd']),
      flagDoc(['--output', '-o'], 'OUT', 'write to OUT (default, or -: stdout)', 'file'),
      flagDoc('--stats', undefined, 'size, worst path and cacheable syscalls, on stderr'),
      flagDoc('--name', 'NAME', 'with --format k8s: the resource\'s name (default: from the file name)'),
      flagDoc('--weights', 'FILE', 'how often each syscall runs (`name count` lines, as tsjail learn --weights-out writes; instead of the policy\'s weights): frequent calls get short paths, the decisions stay the same', 'file'),
      flagDoc('--verify', undefined, 'prove the program implements the policy (as tsjail verify) before writing it; on a difference nothing is written (exit 1)'),
      flagDoc('--systemd-version', 'N', 'with --format systemd: the systemd release that reads it (default 261); groups it would read otherwise are written as their calls, with a note'),
      ...OCI_FLAGS, HELP_FLAG,
    ],
  },
  {
    name: 'disasm', synopsis: 'FILE.bpf [--arch ARCH]', summary: 'disassemble a raw filter (struct sock_filter[]) in ARCH\'s byte order',
    flags: [ARCH_FLAG, HELP_FLAG],
  },
  {
    name: 'explain', synopsis: '--policy FILE|FILE.bpf [--arch ARCH] SYSCALL [ARG...] | --fs [--policy FILE] [--ro/--rw/--hide/--show/--noexec PATH]... [PATH...]',
    summary: 'which action a call gets, which rule decided it, and the instructions run; with --fs: the file rules of a jail started here',
    flags: [
      POLICY_FLAG, ARCH_FLAG,
      flagDoc('--fs', undefined, 'the file rules of a jail started here, and which rule decides each PATH'),
      flagDoc('--ro', 'PATH', 'with --fs: a read-only rule', 'file'), flagDoc('--rw', 'PATH', 'with --fs: a writable rule', 'file'),
      flagDoc('--hide', 'PATH', 'with --fs: a hiding rule', 'file'), flagDoc('--show', 'PATH', 'with --fs: a showing rule', 'file'),
      flagDoc('--noexec', 'PATH', 'with --fs: a noexec rule', 'file'), flagDoc('--host-fs', undefined, 'with --fs: no file rules'),
      ...OCI_FLAGS, HELP_FLAG,
    ],
  },
  {
    name: 'lint', synopsis: '--policy FILE [--arch ARCH]... [--json]', summary: 'findings about a policy: dangerous syscalls allowed, gaps, shadowed rules (exit 1 on danger)',
    flags: [POLICY_FLAG, ARCH_FLAG, flagDoc('--json', undefined, 'the findings as JSON'), ...OCI_FLAGS, HELP_FLAG],
  },
  {
    name: 'diff', synopsis: 'A B [--arch ARCH]... [--json]', summary: 'every syscall and argument range two policies (or raw .bpf filters) decide differently (exact; exit 1 when they differ)',
    flags: [ARCH_FLAG, flagDoc('--json', undefined, 'the differences as JSON'), ...OCI_FLAGS, HELP_FLAG],
  },
  {
    name: 'verify', synopsis: '--policy FILE [--arch ARCH]... [--json] PROGRAM.bpf',
    summary: 'prove a raw filter implements a policy on every path (exit 0), or show where it does not with one call (exit 1)',
    text: `PROGRAM.bpf is struct sock_filter[] in the targets' byte order: what tsjail compile -o or libseccomp's
seccomp_export_bpf writes. The program and a reference program written naively from the policy's
meaning are walked together over every path (no input is sampled). Exit status: 0 proven, 1 a
difference (each region, the program's and the policy's actions, one concrete call), 2 for a
usage error, a policy that does not load, or a program verify cannot judge (not loadable by the
kernel, or instructions beyond ld/and/jeq/jgt/jge/jset/ja/ret with constants).`,
    flags: [POLICY_FLAG, ARCH_FLAG, flagDoc('--json', undefined, 'the report as JSON'), ...OCI_FLAGS, HELP_FLAG],
  },
  {
    name: 'syscalls', synopsis: '[--arch ARCH] [NAME|NUMBER]', summary: 'look syscall names and numbers up, with their arguments',
    flags: [ARCH_FLAG, HELP_FLAG],
  },
  { name: 'help', synopsis: '[COMMAND]', summary: 'this list, or COMMAND\'s options', flags: [] },
  { name: 'man', synopsis: '', summary: 'the manual page (roff): tsjail man | man -l -', flags: [] },
  { name: 'completion', synopsis: 'bash|zsh', summary: 'a completion script: source <(tsjail completion bash)', flags: [] },
];

export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

export function commandDoc(name: string): CommandDoc | undefined {
  return COMMANDS.find((c) => c.name === name);
}

const WIDTH = 100;
const FLAG_COLUMN = 26;

function wrap(text: string, indent: number, first: number): string[] {
  const lines: string[] = [];
  let line = '';
  let room = WIDTH - first;
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > room) { lines.push(line); line = word; room = WIDTH - indent; } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** `-p, --policy FILE` */
export function flagLabel(flag: FlagDoc): string {
  const [long, ...short] = flag.names;
  return `${[...short, long].join(', ')}${flag.value ? ` ${flag.value}` : ''}`;
}

/** A subcommand's --help text. */
export function commandUsage(doc: CommandDoc): string {
  const out = [`usage: tsjail ${doc.name}${doc.synopsis ? ` ${doc.synopsis}` : ''}`, '', doc.summary];
  if (doc.text) out.push('', doc.text);
  if (doc.flags.length) out.push('', 'options:');
  for (const flag of doc.flags) {
    const label = `  ${flagLabel(flag).padEnd(FLAG_COLUMN - 3)} `;
    const [first, ...rest] = wrap(flag.text, FLAG_COLUMN, label.length > FLAG_COLUMN ? WIDTH : FLAG_COLUMN);
    if (label.length > FLAG_COLUMN) out.push(label.trimEnd(), ...[first!, ...rest].map((l) => `${' '.repeat(FLAG_COLUMN)}${l}`));
    else out.push(`${label}${first}`, ...rest.map((l) => `${' '.repeat(FLAG_COLUMN)}${l}`));
  }
  return `${out.join('\n')}\n`;
}

/** `tsjail --help`: the commands. */
export function mainUsage(): string {
  return [
    'usage: tsjail <command> [options]', '       tsjail --version', '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`),
    '',
    'tsjail help COMMAND (or tsjail COMMAND --help) shows its options. Exit status: 2 for a usage error.',
    `ARCH is one of: ${ABI_NAMES.join(', ')} (default: the host's).`,
    'FILE may be @builtin (the built-in policy of tsjail run) or - (stdin).',
    '',
  ].join('\n');
}
