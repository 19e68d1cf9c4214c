// Usage text and usage errors, shared by the subcommands.
import { ABI_NAMES } from '../arch/abi';

/** A mistake in the command line: exit 2 with the usage text. */
export class UsageError extends Error {}

export const USAGE = `usage: tsjail <command> [options]

commands:
  run      [OPTIONS] [--preset untrusted|agent] [--policy FILE] -- CMD [ARGS...]
           run a command in a jail (tsjail run --help for the options)
  learn    [-o FILE] [--format ts|json] [--merge FILE] [--learn-dangerous] [--learn-abi ABI] [--learn-net] [OPTIONS] -- CMD [ARGS...]
           run a command and write the minimal policy it needs
  compile  --policy FILE [--arch ARCH]... [--format raw|c|disasm|json|oci|k8s|systemd] [-o OUT] [--stats]
           compile a policy (.ts, .js, or OCI/Docker .json) to a seccomp filter
  disasm   FILE.bpf [--arch ARCH]
           disassemble a raw filter (struct sock_filter[]) in ARCH's byte order
  explain  --policy FILE [--arch ARCH] SYSCALL [ARG...]
           which action a call gets, which rule decided it, and the instructions run
  explain  --fs [--policy FILE] [--ro/--rw/--hide/--show/--noexec PATH]... [PATH...]
           the file rules of a jail started here, and which rule decides each PATH
  lint     --policy FILE [--arch ARCH]... [--json]
           findings about a policy: dangerous syscalls allowed, gaps, shadowed rules
  diff     A B [--arch ARCH]... [--json]
           every syscall and argument range two policies decide differently (exact)
  syscalls [--arch ARCH] [NAME|NUMBER]
           look syscall names and numbers up, with their arguments

ARCH is one of: ${ABI_NAMES.join(', ')} (default: the host's)
FILE may be @builtin: the built-in policy of tsjail run.
OCI/Docker profiles also take --caps CAP,CAP (default: Docker's default set) and
--kernel VERSION (for minKernel; default: the running kernel); --procd reads them with
OpenWrt procd's meaning (first match wins, one 32-bit word per argument).
`;

