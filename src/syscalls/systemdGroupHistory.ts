// Which systemd versions know each syscall group, and since when each one's members are those of
// v261 (the version groups.generated.ts holds): a group written for systemd vN means the same
// there only if N >= sameAsV261. Read from systemd's git tags v231..v261 (syscall_filter_sets[] in
// src/shared/seccomp-util.c; v231 spelled the field .set_name), in the public fork sshedi/systemd,
// which carries the upstream tags (v261 = 102d5065bc82a875cfa0f6fcae6a5bda651cbf0a); members
// compared with the references to other groups expanded. @known is systemd's generated list of
// every syscall it knows, which changes with each release: it has no sameAsV261.
export interface GroupHistory {
  /** The first release that defines the group. */
  readonly known: number;
  /** The first release from which its members (references expanded) are v261's, through v261. */
  readonly sameAsV261: number | undefined;
}

export const SYSTEMD_GROUP_HISTORY: Readonly<Record<string, GroupHistory>> = {
  '@default': { known: 231, sameAsV261: 260 },
  '@aio': { known: 235, sameAsV261: 244 },
  '@basic-io': { known: 232, sameAsV261: 257 },
  '@chown': { known: 235, sameAsV261: 235 },
  '@clock': { known: 231, sameAsV261: 247 },
  '@cpu-emulation': { known: 231, sameAsV261: 231 },
  '@debug': { known: 231, sameAsV261: 246 },
  '@file-system': { known: 233, sameAsV261: 258 },
  '@io-event': { known: 231, sameAsV261: 249 },
  '@ipc': { known: 231, sameAsV261: 249 },
  '@keyring': { known: 231, sameAsV261: 231 },
  '@memlock': { known: 235, sameAsV261: 235 },
  '@module': { known: 231, sameAsV261: 231 },
  '@mount': { known: 231, sameAsV261: 258 },
  '@network-io': { known: 231, sameAsV261: 244 },
  '@obsolete': { known: 231, sameAsV261: 247 },
  '@pkey': { known: 244, sameAsV261: 244 },
  '@privileged': { known: 231, sameAsV261: 254 },
  '@process': { known: 231, sameAsV261: 251 },
  '@raw-io': { known: 231, sameAsV261: 231 },
  '@reboot': { known: 233, sameAsV261: 235 },
  '@resources': { known: 232, sameAsV261: 254 },
  '@sandbox': { known: 254, sameAsV261: 254 },
  '@setuid': { known: 235, sameAsV261: 235 },
  '@signal': { known: 235, sameAsV261: 244 },
  '@swap': { known: 233, sameAsV261: 233 },
  '@sync': { known: 235, sameAsV261: 243 },
  '@system-service': { known: 239, sameAsV261: 260 },
  '@timer': { known: 235, sameAsV261: 244 },
  '@known': { known: 247, sameAsV261: undefined },
};

/** The release the group members in groups.generated.ts come from. */
export const SYSTEMD_GROUPS_VERSION = 261;

/** systemd v236 added `name:ERRNO` entries (per-call errno) to SystemCallFilter= (its NEWS). */
export const SYSTEMD_PER_CALL_ERRNO_SINCE = 236;
